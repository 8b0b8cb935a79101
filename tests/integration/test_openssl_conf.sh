#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# smkeyd never reads an OpenSSL configuration file (docs/daemon.md
# "systemd", OPENSSL_INIT_NO_LOAD_CONFIG): an openssl.cnf in $OPENSSL_CONF
# that activates a provider module does not get that module loaded into the
# daemon, and does not stop it. The module here only leaves a marker file
# when something loads it; `openssl version`, which reads the configuration,
# shows the marker works. Needs no root and starts no card.
set -euo pipefail
src=${SMK_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${SMK_BUILD_DIR:-$src/build}
tmp=$(mktemp -d /tmp/smk-openssl-conf.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

fail() {
	echo "test_openssl_conf: FAIL: $*" >&2
	exit 1
}

cat >"$tmp/module.c" <<'C'
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
/* runs when the module is loaded, before OpenSSL asks it anything */
__attribute__((constructor)) static void loaded(void)
{
	const char *p = getenv("SMK_MODULE_MARK");
	int fd = p ? open(p, O_CREAT | O_WRONLY, 0600) : -1;

	if (fd >= 0)
		close(fd);
}
int OSSL_provider_init(const void *handle, const void *in, const void **out, void **ctx);
int OSSL_provider_init(const void *handle, const void *in, const void **out, void **ctx)
{
	(void)handle;
	(void)in;
	(void)out;
	(void)ctx;
	return 0;
}
C
cc -shared -fPIC -o "$tmp/module.so" "$tmp/module.c" || fail "cannot build the test module"
cat >"$tmp/openssl.cnf" <<EOF
openssl_conf = openssl_init
config_diagnostics = 1
[openssl_init]
providers = provider_sect
[provider_sect]
planted = planted_sect
[planted_sect]
module = $tmp/module.so
activate = 1
EOF
sed -e "s|^policies: .*|policies: $src/etc/policies.d|" -e "s|^trust: .*|trust: $src/etc/trust|" \
	-e "s|^archive: .*|archive: $tmp/archive.db|" "$src/etc/smkeyd.yaml" >"$tmp/smkeyd.yaml"
export OPENSSL_CONF=$tmp/openssl.cnf SMK_MODULE_MARK=$tmp/loaded

# the control: a program that reads the configuration loads the module
if command -v openssl >/dev/null; then
	openssl version >/dev/null 2>&1 || true
	[ -e "$tmp/loaded" ] || fail "openssl did not load the planted module: the test proves nothing"
	rm -f "$tmp/loaded"
fi

# --check-config does what start-up does with OpenSSL (trust anchors'
# EC keys, policy digests) and exits
out=$("$build/smkeyd" --check-config -c "$tmp/smkeyd.yaml" 2>&1) ||
	fail "smkeyd --check-config under OPENSSL_CONF=$OPENSSL_CONF: $out"
[ ! -e "$tmp/loaded" ] || fail "smkeyd loaded the provider module named in OPENSSL_CONF"
echo "test_openssl_conf: smkeyd ignores OPENSSL_CONF ($out)"
