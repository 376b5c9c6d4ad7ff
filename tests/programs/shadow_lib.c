/* libvialshadow.so.1, built twice: VIALSHADOW_VARIANT is "image" for the
 * copy packed into the image and "host" for the copy left on the host at
 * the same path (the directory shadow-app's rpath names). */
const char *vialshadow_variant(void);

const char *vialshadow_variant(void)
{
    return VIALSHADOW_VARIANT;
}
