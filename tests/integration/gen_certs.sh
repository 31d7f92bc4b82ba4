#!/usr/bin/env bash
# Writes a throw-away PKI for the TLS tests into DIR (created if missing):
#   ca.pem ca.key                   test CA
#   server.pem server.key           server cert signed by the CA, for
#                                   127.0.0.1, localhost and poolcat.test
#   client.pem client.key           client cert signed by the CA (mutual TLS)
#   other_ca.pem                    an unrelated CA
#   other_client.pem other_client.key  client cert signed by the other CA
# EC P-256 keys keep generation fast; certificates are valid for 2 days.
# Usage: gen_certs.sh DIR
set -euo pipefail
dir=${1:?usage: gen_certs.sh DIR}
mkdir -p "$dir"
cd "$dir"

ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)

make_ca() {  # name subject
  openssl req -x509 "${ec[@]}" -keyout "$1.key" -out "$1.pem" -days 2 \
    -subj "/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

make_leaf() {  # name ca subject extensions
  openssl req -new "${ec[@]}" -keyout "$1.key" -out "$1.csr" \
    -subj "/CN=$3" 2>/dev/null
  printf '%s\n' "$4" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" \
    -CAcreateserial -out "$1.pem" -days 2 -extfile "$1.ext" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}

make_ca ca "poolcat test CA"
make_ca other_ca "unrelated test CA"
make_leaf server ca poolcat.test \
  "subjectAltName=DNS:poolcat.test,DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth"
make_leaf client ca "poolcat test client" "extendedKeyUsage=clientAuth"
make_leaf other_client other_ca "stranger" "extendedKeyUsage=clientAuth"
