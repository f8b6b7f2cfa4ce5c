#!/usr/bin/env bash
# Installs what Attendant needs on a Debian machine, skipping what is already there:
# Debian packages, pgvector built from Debian's source package against PostgreSQL 15,
# livekit-server built once from the Go module proxy (cached in the user's cache
# directory), the web part's npm packages and the Go tools `make check` uses.
#
# Run it through `make deps`. Every step is idempotent: a second run only checks.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

LIVEKIT_VERSION=v1.13.5
STATICCHECK_VERSION=v0.8.2
PG_MAJOR=15
PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config
cache=${XDG_CACHE_HOME:-$HOME/.cache}/attendant

debian_packages=(
	build-essential pkg-config git ca-certificates dpkg-dev
	postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR
	redis-server
	libopus-dev libopusfile-dev libsoxr-dev
	espeak-ng
	pocketsphinx pocketsphinx-en-us libpocketsphinx-dev
	chromium
	nodejs npm
)

say() { printf 'deps: %s\n' "$*"; }

is_root() { [ "$(id -u)" -eq 0 ]; }

missing_debian_packages() {
	local p
	for p in "${debian_packages[@]}"; do
		# npm ships with nodejs from other sources; accept any working npm.
		if [ "$p" = npm ] && command -v npm >/dev/null 2>&1; then continue; fi
		if [ "$p" = nodejs ] && command -v node >/dev/null 2>&1; then continue; fi
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
			printf '%s\n' "$p"
		fi
	done
}

apt_updated=0
apt_update() {
	if [ "$apt_updated" -eq 0 ]; then
		say "apt-get update"
		apt-get update -qq
		apt_updated=1
	fi
}

install_debian_packages() {
	local missing
	mapfile -t missing < <(missing_debian_packages)
	if [ "${#missing[@]}" -eq 0 ]; then
		say "Debian packages: all present"
		return
	fi
	if ! is_root; then
		say "these Debian packages are missing: ${missing[*]}"
		say "run as root, then run make deps again:"
		printf '    sudo apt-get update && sudo apt-get install -y %s\n' "${missing[*]}"
		exit 1
	fi
	apt_update
	say "installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

pgvector_installed() {
	local share
	share=$("$PG_CONFIG" --sharedir)
	[ -f "$share/extension/vector.control" ] &&
		grep -q "default_version = '0.8" "$share/extension/vector.control" &&
		[ -f "$("$PG_CONFIG" --pkglibdir)/vector.so" ]
}

# The deb-src entry reuses the host of the machine's own Debian source list, for trixie,
# whose pgvector source package (0.8.x) builds against PostgreSQL 15.
add_pgvector_source() {
	local list=/etc/apt/sources.list.d/attendant-pgvector-src.sources uri=""
	[ -f "$list" ] && return
	if [ -f /etc/apt/sources.list.d/debian.sources ]; then
		uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources)
	fi
	if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
		uri=$(awk '$1=="deb"{for(i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list)
	fi
	if [ -z "$uri" ]; then
		say "cannot find a Debian mirror in /etc/apt to fetch pgvector's source package from"
		exit 1
	fi
	printf 'Types: deb-src\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
		"$uri" >"$list"
	apt_updated=0
}

install_pgvector() {
	if pgvector_installed; then
		say "pgvector 0.8: present"
		return
	fi
	if ! is_root; then
		say "pgvector is not installed for PostgreSQL $PG_MAJOR; run as root:"
		printf '    sudo make deps\n'
		exit 1
	fi
	add_pgvector_source
	apt_update
	local work
	work=$(mktemp -d)
	say "building pgvector from Debian's source package"
	(
		cd "$work"
		apt-get source -qq pgvector >/dev/null 2>&1
		cd pgvector-0.8.*/
		make -s PG_CONFIG="$PG_CONFIG" OPTFLAGS="" >/dev/null
		make -s PG_CONFIG="$PG_CONFIG" install >/dev/null
	)
	rm -rf "$work"
	pgvector_installed || { say "pgvector build did not install vector 0.8"; exit 1; }
}

# livekit-server is built once per version into the user's cache and copied into ./bin.
install_livekit() {
	local cached=$cache/livekit-server-$LIVEKIT_VERSION
	if [ ! -x "$cached" ]; then
		say "building livekit-server $LIVEKIT_VERSION from the Go module proxy (about 3 minutes, once)"
		mkdir -p "$cache"
		local work dir log=$cache/livekit-build.log
		work=$(mktemp -d)
		if ! (
			cd "$work"
			dir=$(go mod download -json "github.com/livekit/livekit-server@$LIVEKIT_VERSION" |
				sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
			cp -r "$dir" src
			chmod -R u+w src
			cd src
			go build -trimpath -o "$cached.tmp" ./cmd/server
		) >"$log" 2>&1; then
			tail -20 "$log"
			say "livekit-server build failed; the whole log is $log"
			rm -rf "$work"
			exit 1
		fi
		mv "$cached.tmp" "$cached"
		rm -rf "$work"
	fi
	mkdir -p bin
	if ! cmp -s "$cached" bin/livekit-server; then
		cp "$cached" bin/livekit-server.tmp && mv bin/livekit-server.tmp bin/livekit-server
	fi
	say "livekit-server $LIVEKIT_VERSION: bin/livekit-server"
}

install_npm() {
	if [ -f web/node_modules/.package-lock.json ] &&
		[ ! web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
		say "npm packages: present"
		return
	fi
	say "npm ci in web/"
	(cd web && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
}

install_go_tools() {
	mkdir -p bin
	if [ ! -x bin/staticcheck ] || ! bin/staticcheck -version 2>/dev/null | grep -q "(${STATICCHECK_VERSION#v})"; then
		say "installing staticcheck $STATICCHECK_VERSION"
		GOBIN="$root/bin" go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
	fi
}

command -v go >/dev/null 2>&1 || { say "Go is required (go version 1.26 or later)"; exit 1; }
install_debian_packages
install_pgvector
install_livekit
install_npm
install_go_tools
say "done"
