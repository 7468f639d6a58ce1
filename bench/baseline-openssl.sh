#!/usr/bin/env bash
# Baseline for `npm run bench`: what operators script today with the openssl CLI on one node.
#   check ROOT  -> read every certificate's expiry (files and kubeconfig-embedded)
#   renew ROOT  -> for every leaf: new RSA key, CSR with the old subject, sign with the CA copying SANs/EKU
set -euo pipefail
mode=$1 root=$2
pki=$root/etc/kubernetes/pki
if [ "$mode" = check ]; then
  for f in $(find "$pki" -name '*.crt'); do openssl x509 -in "$f" -noout -enddate >/dev/null; done
  # Kubespray / KubeKey etcd certificates
  for f in $(find "$root/etc/ssl/etcd/ssl" -name '*.pem' ! -name '*-key.pem' 2>/dev/null); do openssl x509 -in "$f" -noout -enddate >/dev/null; done
  for f in "$root"/etc/kubernetes/*.conf; do
    data=$(grep client-certificate-data "$f" | awk '{print $2}') || true
    [ -n "$data" ] && echo "$data" | base64 -d | openssl x509 -noout -enddate >/dev/null
  done
  exit 0
fi
renew_one() { # cert key ca cakey
  local cert=$1 key=$2 ca=$3 cakey=$4 ext
  ext=$(mktemp)
  { echo "basicConstraints=critical,CA:FALSE"; echo "keyUsage=critical,digitalSignature,keyEncipherment"
    eku=$(openssl x509 -in "$cert" -noout -ext extendedKeyUsage | tail -n +2 | sed 's/TLS Web Server Authentication/serverAuth/;s/TLS Web Client Authentication/clientAuth/;s/ //g')
    [ -n "$eku" ] && echo "extendedKeyUsage=$eku"
    san=$(openssl x509 -in "$cert" -noout -ext subjectAltName | tail -n +2 | sed 's/IP Address/IP/g;s/ //g')
    [ -n "$san" ] && echo "subjectAltName=$san"; } > "$ext"
  subj=$(openssl x509 -in "$cert" -noout -subject -nameopt compat | sed 's/^subject=//')
  openssl genrsa -out "$key" 2048 2>/dev/null
  openssl req -new -key "$key" -subj "$subj" -out "$cert.csr" 2>/dev/null
  openssl x509 -req -in "$cert.csr" -CA "$ca" -CAkey "$cakey" -CAcreateserial -days 365 -extfile "$ext" -out "$cert" 2>/dev/null
  rm -f "$cert.csr" "$ext"
}
renew_one "$pki/apiserver.crt" "$pki/apiserver.key" "$pki/ca.crt" "$pki/ca.key"
renew_one "$pki/apiserver-kubelet-client.crt" "$pki/apiserver-kubelet-client.key" "$pki/ca.crt" "$pki/ca.key"
renew_one "$pki/front-proxy-client.crt" "$pki/front-proxy-client.key" "$pki/front-proxy-ca.crt" "$pki/front-proxy-ca.key"
for l in apiserver-etcd-client etcd/server etcd/peer etcd/healthcheck-client; do
  renew_one "$pki/$l.crt" "$pki/$l.key" "$pki/etcd/ca.crt" "$pki/etcd/ca.key"
done
# kubeconfigs: extract, renew, embed again
for conf in admin controller-manager scheduler super-admin; do
  f=$root/etc/kubernetes/$conf.conf; [ -f "$f" ] || continue
  tmp=$(mktemp -d)
  grep client-certificate-data "$f" | awk '{print $2}' | base64 -d > "$tmp/c.crt"
  renew_one "$tmp/c.crt" "$tmp/c.key" "$pki/ca.crt" "$pki/ca.key"
  c=$(base64 -w0 < "$tmp/c.crt"); k=$(base64 -w0 < "$tmp/c.key")
  sed -i "s|client-certificate-data: .*|client-certificate-data: $c|;s|client-key-data: .*|client-key-data: $k|" "$f"
  rm -rf "$tmp"
done
