# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=bash
# Debian packages the build and the tests need. Sourced by scripts/test and
# scripts/demo: installs what is missing when run as root, otherwise prints the
# exact apt-get line and stops.
SMK_PACKAGES="build-essential cmake pkg-config clang libclang-rt-14-dev \
libssl-dev libpcsclite-dev libevent-dev libyaml-dev check libjansson-dev \
libsqlite3-dev libcurl4-openssl-dev libzip-dev pcscd vsmartcard-vpcd opensc iproute2 util-linux \
procps psmisc python3-cryptography openssh-server openssh-client nftables universal-ctags \
shellcheck clang-format clang-tidy \
libp11-kit-dev p11-kit gnutls-bin libengine-pkcs11-openssl apksigner openjdk-17-jdk-headless zip unzip"

smk_install_deps() {
	local missing="" p
	for p in $SMK_PACKAGES; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" != 0 ]; then
		echo "missing Debian packages; install them with:" >&2
		echo "  sudo apt-get install -y$missing" >&2
		exit 1
	fi
	echo "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null
	# shellcheck disable=SC2086
	apt-get install -y -q $missing >/dev/null
}
