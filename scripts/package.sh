#!/usr/bin/env bash
# Builds the Debian package (dpkg-buildpackage -us -uc -b) from a copy of the tree, runs
# lintian on it, and unpacks it into a scratch root to check that every file lands where
# the README says. Needs debhelper, lintian, scdoc, bash-completion (scripts/deps.sh).
# The .deb and the lintian report are left in build-deb/. The last line is
# "N passed, N failed" (1 check: the whole of it).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/build-deb
rm -rf "$out"
mkdir -p "$out"
fail() { echo "package: $*"; echo "0 passed, 1 failed"; exit 1; }

# A clean copy: the build trees and node_modules of this checkout stay out of the source.
src=$out/src/relaypool-0.1.0
mkdir -p "$src"
git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -a -t "$src" || fail "cannot copy the tree"
(cd "$src" && dpkg-buildpackage -us -uc -b >"$out/build.log" 2>&1) || { tail -40 "$out/build.log"; fail "dpkg-buildpackage failed"; }
deb=$(ls "$out"/src/relaypool_*.deb 2>/dev/null | head -1)
[[ -n $deb ]] || fail "no .deb produced"
mv "$out"/src/relaypool_* "$out"/
deb=$out/$(basename "$deb")
echo "built $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB)"

# lintian: no errors; every warning is listed in debian/lintian-explained (one tag per line, with why).
lintian --tag-display-limit 0 "$deb" >"$out/lintian.txt" 2>&1
cat "$out/lintian.txt"
grep -q '^E: ' "$out/lintian.txt" && fail "lintian reports errors"
while read -r tag; do
  grep -q "^$tag " debian/lintian-explained 2>/dev/null || fail "lintian warning not explained in debian/lintian-explained: $tag"
done < <(grep '^W: ' "$out/lintian.txt" | awk '{print $3}' | sort -u)

# The files, where the README says they are.
scratch=$out/root
dpkg-deb -x "$deb" "$scratch" || fail "cannot unpack"
for f in usr/sbin/relaypoold usr/bin/relaypoolctl \
         lib/systemd/system/relaypoold.service lib/systemd/system/relaypoold.socket \
         usr/lib/sysusers.d/relaypool.conf etc/relaypool/relaypoold.conf \
         usr/share/man/man8/relaypoold.8.gz usr/share/man/man1/relaypoolctl.1.gz usr/share/man/man5/relaypoold.conf.5.gz \
         usr/share/bash-completion/completions/relaypoolctl usr/share/doc/relaypool/relaypoold.conf \
         usr/share/doc/relaypool/copyright; do
  [[ -e $scratch/$f ]] || fail "missing /$f"
done
"$scratch/usr/sbin/relaypoold" -c "$scratch/etc/relaypool/relaypoold.conf" --check-config >/dev/null ||
  fail "the packaged configuration does not check"
dpkg-deb -I "$deb" conffiles | grep -qx /etc/relaypool/relaypoold.conf || fail "relaypoold.conf is not a conffile"
dpkg-deb -I "$deb" postinst | grep -q 'systemd-sysusers' || fail "postinst does not create the user"
dpkg-deb -I "$deb" postinst | grep -q 'relaypoold.socket' || fail "postinst does not enable the socket"
"$scratch/usr/bin/relaypoolctl" --version >/dev/null || fail "relaypoolctl does not run"
echo "package: ok ($deb)"
echo "1 passed, 0 failed"
