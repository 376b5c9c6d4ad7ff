/* hooks_lib.c - libvialbenchhooks.so: the function bench/hooks declares a
 * hook on (a call that costs next to nothing by itself). */
int bench_hooks_add(int a, int b) { return a + b; }
