// A systemd EnvironmentFile (KEY=value lines; comments, blank lines, `export` and quotes allowed), as Kubespray and
// KubeKey write /etc/etcd.env.
export function parseEnvironmentFile(text: string): Map<string, string> {
  const env = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!m) continue;
    const quoted = /^(["'])(.*)\1$/.exec(m[2]);
    env.set(m[1], quoted ? quoted[2] : m[2]);
  }
  return env;
}
