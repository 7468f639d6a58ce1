// SSH connections kept between reads of the same nodes (the exporter scrapes every 15 s or so): a node is connected
// once, and again only after its connection ended or a read through it failed.
import type { SshHost } from '../hosts/ssh.js';
import { connectNode, ConnectOptions } from './connect.js';
import type { InventoryNode } from './inventory/model.js';

export class HostPool {
  private readonly hosts = new Map<string, Promise<SshHost>>();

  constructor(private readonly options: ConnectOptions) {}

  /** The node's live connection, connecting when there is none (concurrent callers share one attempt). */
  async get(node: InventoryNode): Promise<SshHost> {
    const known = this.hosts.get(node.name);
    if (known) {
      const host = await known.catch(() => undefined);
      if (host && !host.closed) return host;
      if (this.hosts.get(node.name) === known) this.hosts.delete(node.name);
      else return this.get(node);
    }
    const attempt = connectNode(node, this.options);
    this.hosts.set(node.name, attempt);
    attempt.catch(() => {
      if (this.hosts.get(node.name) === attempt) this.hosts.delete(node.name);
    });
    return attempt;
  }

  /** Forgets (and closes) a node's connection after a failed read, so the next read starts clean. */
  drop(name: string): void {
    const known = this.hosts.get(name);
    this.hosts.delete(name);
    void known?.then((h) => h.close()).catch(() => undefined);
  }

  closeAll(): void {
    for (const name of [...this.hosts.keys()]) this.drop(name);
  }
}
