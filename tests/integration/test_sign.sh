#!/bin/bash
# Image signatures and the trust policy (docs/trust.md), with the real vial
# binary on the bundled example (examples/hello: it has a registry hive):
#   - vial keygen writes a private secret key and a .pub, never replacing
#     one; vial sign refuses a damaged image and a key others may read;
#   - a signed image runs under --require-signature; an unsigned one is
#     refused (exit 4) with the reason, through the flag before the command,
#     the option of run and VIAL_REQUIRE_SIGNATURE=1;
#   - one flipped byte in the manifest (even with the file's mtime put
#     back, so the launcher's cache of verified files cannot notice), the
#     index or the hive is refused before the program starts (exit 3); one
#     flipped byte in a chunk stops the program when the chunk is used, with
#     "does not match its hash", and vial verify finds it;
#   - a signature that does not match is refused even without a policy;
#   - the trusted-keys file: an image signed by another key, or by a key the
#     file does not list, is refused naming the key; unsigned images too;
#     a malformed line stops everything, naming the line; vial info still
#     shows who signed an image.
source "$(dirname "$0")/lib.sh"
export LC_ALL=C

example=$SOURCE_DIR/examples/hello
[ -d "$example" ] || fail "the bundled example is missing: $example"
expect_status 0 "$VIAL" pack "$example/root" --manifest "$example/vial.ini" -o "$WORK/hello.vial"
keys=$WORK/keys
mkdir "$keys"
trusted=$XDG_CONFIG_HOME/vial/trusted-keys
greeting="Hello from inside a Vial image!"

# flip IMAGE SECTION [OFFSET]: flips one bit of a byte OFFSET bytes into the
# section (default: its middle), found through vial info --json, in place
flip() {
    "$VIAL" info --json "$1" >"$WORK/info.json" || fail "vial info $1"
    python3 - "$1" "$2" "${3:--1}" "$WORK/info.json" <<'EOF'
import json, sys
path, name, offset, info = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
sections = {s["type"]: s for s in json.load(open(info))["sections"]}
section = sections[name]
at = section["offset"] + (section["length"] // 2 if offset < 0 else offset)
with open(path, "r+b") as f:
    f.seek(at)
    byte = f.read(1)[0]
    f.seek(at)
    f.write(bytes([byte ^ 0x10]))
EOF
}

# ------------------------------------------------------------------ keygen
expect_status 0 "$VIAL" keygen -o "$keys/signer"
[ "$(stat -c %a "$keys/signer")" = 600 ] || fail "the secret key is not mode 0600"
has_line -E '^vial-ed25519-secret [0-9a-f]{64}$' "$keys/signer" || fail "secret key format"
has_line -E '^vial-ed25519-public [0-9a-f]{64} signer$' "$keys/signer.pub" || fail "public key format"
signer_id=$(cut -d' ' -f2 "$keys/signer.pub" | cut -c1-16)
cp "$keys/signer" "$WORK/signer.before"
expect_status 1 "$VIAL" keygen -o "$keys/signer"
expect_stderr "never replaces a key"
cmp -s "$keys/signer" "$WORK/signer.before" || fail "keygen changed an existing key"
expect_status 0 "$VIAL" keygen -o "$keys/other"
other_id=$(cut -d' ' -f2 "$keys/other.pub" | cut -c1-16)
[ "$signer_id" != "$other_id" ] || fail "two keygens made the same key"
pass "keygen: private secret key, .pub beside it, never replaced"

# -------------------------------------------------------------------- sign
cp "$WORK/hello.vial" "$WORK/signed.vial"
expect_status 0 "$VIAL" sign "$WORK/signed.vial" --key "$keys/signer"
has_line "signed by key $signer_id" "$WORK/stdout" || fail "sign does not name the key"
cmp -s -n 880 "$WORK/hello.vial" "$WORK/signed.vial" || fail "sign changed the hashed header"
cmp -s -i 1024 "$WORK/hello.vial" "$WORK/signed.vial" || fail "sign changed a section"
expect_status 0 "$VIAL" verify "$WORK/signed.vial"
has_line "signed by key $signer_id" "$WORK/stdout" || fail "verify does not report the signer"
"$VIAL" info "$WORK/signed.vial" | has_line "signed by key $signer_id" || fail "info: signer"
cp "$keys/signer" "$keys/loose"
chmod 644 "$keys/loose"
cp "$WORK/hello.vial" "$WORK/loose.vial"
expect_status 1 "$VIAL" sign "$WORK/loose.vial" --key "$keys/loose"
expect_stderr "must be private to its owner"
cmp -s "$WORK/hello.vial" "$WORK/loose.vial" || fail "a refused sign changed the image"
pass "sign writes only the slot; verify and info name the signer; a readable key is refused"

# ------------------------------------------- --require-signature: accepted
expect_status 0 "$VIAL" --require-signature run "$WORK/signed.vial"
has_line -F "$greeting" "$WORK/stdout" || fail "the signed image did not run"
expect_status 0 "$VIAL" run --require-signature "$WORK/signed.vial"
has_line -F "$greeting" "$WORK/stdout" || fail "run --require-signature"
pass "a signed image runs under --require-signature"

# ----------------------------------------- --require-signature: unsigned
expect_status 0 "$VIAL" run "$WORK/hello.vial" # no policy: unsigned images run
for way in global option env; do
    case $way in
    global) expect_status 4 "$VIAL" --require-signature run "$WORK/hello.vial" ;;
    option) expect_status 4 "$VIAL" run --require-signature "$WORK/hello.vial" ;;
    env) expect_status 4 env VIAL_REQUIRE_SIGNATURE=1 "$VIAL" run "$WORK/hello.vial" ;;
    esac
    expect_stderr "unsigned image refused: a signature is required (--require-signature)"
    has_line -F "$greeting" "$WORK/stdout" && fail "$way: the unsigned image ran"
done
expect_status 4 "$VIAL" --require-signature cat "$WORK/hello.vial" /usr/share/hello-vial/greeting.txt
expect_stderr "unsigned image refused"
expect_status 4 "$VIAL" --require-signature verify "$WORK/hello.vial"
expect_stderr "unsigned image refused"
pass "unsigned images refused under --require-signature (flag, run option, environment; run, cat, verify)"

# ------------------------------------------------- tampered metadata
# manifest: changed in place after a run, its mtime put back: the launcher
# remembers this file identity as verified, the policy checks again
cp -p "$WORK/signed.vial" "$WORK/manifest.vial"
expect_status 0 "$VIAL" --require-signature run "$WORK/manifest.vial"
touch -r "$WORK/manifest.vial" "$WORK/stamp"
flip "$WORK/manifest.vial" manifest
touch -r "$WORK/stamp" "$WORK/manifest.vial"
expect_status 3 "$VIAL" --require-signature run "$WORK/manifest.vial"
expect_stderr "the manifest section does not match its hash"
has_line -F "$greeting" "$WORK/stdout" && fail "a tampered manifest ran"

for section in index "registry hive"; do
    copy=$WORK/tampered-${section// /-}.vial
    cp "$WORK/signed.vial" "$copy"
    flip "$copy" "$section"
    expect_status 3 "$VIAL" --require-signature run "$copy"
    expect_stderr "the $section section does not match its hash"
    has_line -F "$greeting" "$WORK/stdout" && fail "a tampered $section ran"
    expect_status 3 "$VIAL" --require-signature ls "$copy"
    expect_stderr "the $section section does not match its hash"
done
pass "one flipped byte in the manifest, index or hive is refused before the program starts"

# ------------------------------------------------------ tampered chunk
cp "$WORK/signed.vial" "$WORK/chunk.vial"
flip "$WORK/chunk.vial" "chunk data"
# a cache that has not materialized the example's files yet: the chunk is
# used (and checked) by this run
got=0
XDG_CACHE_HOME=$WORK/fresh-cache "$VIAL" --require-signature run "$WORK/chunk.vial" \
    >"$WORK/stdout" 2>"$WORK/stderr" || got=$?
[ "$got" != 0 ] || fail "a run of an image with a damaged chunk succeeded"
expect_stderr "does not match its hash"
expect_stderr "chunk.vial: /usr/"
has_line -F "$greeting" "$WORK/stdout" && fail "the damaged chunk was used"
expect_status 3 "$VIAL" verify "$WORK/chunk.vial"
expect_stderr "does not match its hash"
expect_status 3 "$VIAL" sign "$WORK/chunk.vial" --key "$keys/signer"
expect_stderr "not signed, the image is damaged"
pass "a flipped chunk byte stops the run when the chunk is used; verify and sign refuse it"

# ---------------------------------------- a signature that does not match
cp "$WORK/signed.vial" "$WORK/badsig.vial"
python3 - "$WORK/badsig.vial" <<'EOF'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(880 + 8 + 32 + 10)  # a byte of the signature itself
    b = f.read(1)[0]
    f.seek(-1, 1)
    f.write(bytes([b ^ 1]))
EOF
for command in "run" "info" "ls"; do
    expect_status 3 "$VIAL" $command "$WORK/badsig.vial"
    expect_stderr "signature does not match: the image was modified after signing or signed by another key"
done
has_line -F "$greeting" "$WORK/stdout" && fail "an image with a bad signature ran"
pass "a signature that does not match is refused without any policy (run, info, ls)"

# ------------------------------------------------------ trusted-keys file
mkdir -p "$(dirname "$trusted")"
cp "$keys/signer.pub" "$trusted"
expect_status 0 "$VIAL" run "$WORK/signed.vial"
has_line -F "$greeting" "$WORK/stdout" || fail "an image signed by the trusted key did not run"
expect_status 4 "$VIAL" run "$WORK/hello.vial"
expect_stderr "unsigned image refused"
expect_stderr "trusted-keys lists the keys images must be signed with"

# signed by a different key than the trusted one
cp "$WORK/hello.vial" "$WORK/by-other.vial"
expect_status 0 "$VIAL" sign "$WORK/by-other.vial" --key "$keys/other"
expect_status 4 "$VIAL" run "$WORK/by-other.vial"
expect_stderr "signed by key $other_id..., which is not in"
has_line -F "$greeting" "$WORK/stdout" && fail "an image signed by an untrusted key ran"
expect_status 4 "$VIAL" --require-signature ls "$WORK/by-other.vial"
expect_stderr "signed by key $other_id..., which is not in"
expect_status 0 "$VIAL" info "$WORK/by-other.vial"
has_line "signed by key $other_id" "$WORK/stdout" || fail "info of an untrusted image"

# a trusted-keys file with comments and other keys, not the signer's
expect_status 0 "$VIAL" keygen -o "$keys/third"
{
    echo "# keys of our release team"
    echo
    cat "$keys/other.pub"
    echo "   # the build farm"
    cat "$keys/third.pub"
} >"$trusted"
expect_status 4 "$VIAL" run "$WORK/signed.vial"
expect_stderr "signed by key $signer_id..., which is not in"
has_line -F "$greeting" "$WORK/stdout" && fail "an image whose signer is not listed ran"
expect_status 0 "$VIAL" run "$WORK/by-other.vial"
has_line -F "$greeting" "$WORK/stdout" || fail "a listed key among comments was not found"

echo "vial-ed25519-public 1234" >>"$trusted"
expect_status 1 "$VIAL" run "$WORK/by-other.vial"
expect_stderr "trusted-keys, line 6"
has_line -F "$greeting" "$WORK/stdout" && fail "a malformed trusted-keys file was half used"
rm "$trusted"
pass "trusted-keys: signer not listed and other keys refused naming the key; unsigned refused; a bad line stops all"

finish
