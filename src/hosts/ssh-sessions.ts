// sshd allows a number of sessions per connection (MaxSessions: OpenSSH's default 10, CIS-hardened nodes often 4),
// and every exec, SFTP and relay is one. kpki never has more open than the node allows: each session waits for a
// free one, and a session sshd refuses (it answers "open failed") teaches the limit (what was open when it refused)
// and is retried when one closes. A refusal is kpki's queue, never a component's failure.
import { KpkiError } from '../errors.js';

/** How long a session may wait for a free one before the node counts as not answering (a dead connection). */
const QUEUE_TIMEOUT_MS = 120_000;

/**
 * How long sshd may take to answer a session request (the channel open and its exec or subsystem request). OpenSSH
 * answers at once; no answer means a lost reply or a node that hangs, and waiting for it would hang kpki for ever.
 */
const OPEN_TIMEOUT_MS = 30_000;

/** SSH_OPEN_ADMINISTRATIVELY_PROHIBITED: what sshd answers a session open beyond MaxSessions (RFC 4254). */
const ADMINISTRATIVELY_PROHIBITED = 1;

export class SessionRefusedError extends KpkiError {}

/** A channel that can tell when it closed (ssh2's ClientChannel). */
export interface ClosingChannel {
  once(event: 'close', listener: (...args: unknown[]) => void): unknown;
}

/**
 * A session channel and its end, watched from the moment the channel exists: ssh2 may deliver a short command's
 * whole life (its output, exit and close) in the same turn as the channel itself, before any `await` resumes, so a
 * listener added later would never hear the close (and the session would count as open for ever).
 */
export interface Opened<T> {
  channel: T;
  /** Resolves when the channel closed, with the exit code if the program gave one. */
  closed: Promise<number | null>;
}

/** What of ssh2's ClientChannel the draining below needs. */
interface Drainable {
  destroy?: (...args: unknown[]) => unknown;
  close?: () => void;
  resume?: () => void;
  stderr?: { resume?: () => void };
}

/**
 * Watches a channel's close at once (call it where the channel is handed over, in the same turn). ssh2 emits a
 * session's 'close' only after its output was read to the end: a channel whose reader went away (a TLS socket
 * destroyed on a timeout) would never close for kpki, though sshd closed it. So a channel kpki destroys has whatever
 * output is left drained into nothing (ssh2 itself only ever calls close(), when the node closed first: a command's
 * output is then still to be read).
 */
export function watched<T extends ClosingChannel>(channel: T): Opened<T> {
  const c = channel as unknown as Drainable;
  const destroy = c.destroy?.bind(channel);
  if (destroy)
    c.destroy = (...args: unknown[]) => {
      const result = destroy(...args);
      drain(c);
      return result;
    };
  return {
    channel,
    closed: new Promise((resolve) => channel.once('close', (code?: unknown) => resolve(typeof code === 'number' ? code : null))),
  };
}

function drain(c: Drainable): void {
  c.resume?.();
  c.stderr?.resume?.();
}

/** kpki is done with a session channel (a timeout): closed, and what it still had to say dropped, so it can close. */
export function closeChannel(channel: unknown): void {
  const c = channel as Drainable;
  c.close?.();
  drain(c);
}

export class SessionGate {
  /** Sessions open or being opened (what admission counts). */
  private open = 0;
  /** Sessions sshd accepted and that are not closed yet (what a refusal is measured against: sshd answers in order). */
  private established = 0;
  private waiting: (() => void)[] = [];
  private told = false;

  constructor(
    private readonly node: string,
    /** The most kpki assumes before sshd says otherwise (OpenSSH's default MaxSessions). */
    private limit = 10,
    private readonly notice?: (message: string) => void,
    private readonly openTimeoutMs = OPEN_TIMEOUT_MS,
  ) {}

  /** The limit learned so far (for messages and tests). */
  get sessionLimit(): number {
    return this.limit;
  }

  /**
   * Opens a session channel when one is free and keeps its slot until the channel closes. `open` is retried while
   * sshd refuses it with others still open; refused with none open, sshd allows no session at all (MaxSessions 0).
   */
  async session<T>(open: () => Promise<Opened<T>>, what: string): Promise<Opened<T>> {
    const deadline = Date.now() + QUEUE_TIMEOUT_MS;
    for (;;) {
      await this.slot(deadline, what);
      this.open++;
      let opened: Opened<T>;
      try {
        opened = await answered(
          open(),
          this.openTimeoutMs,
          `${this.node}: sshd did not answer a session request for ${what} within ${this.openTimeoutMs / 1000} s`,
        );
      } catch (err) {
        this.release();
        if (!isSessionRefusal(err)) throw err;
        this.learn(err as Error);
        await new Promise((resolve) => setTimeout(resolve, 25)); // (a session just closed is freed by sshd a moment later)
        continue;
      }
      const entry = { what, since: Date.now() };
      this.openNow.add(entry);
      void opened.closed.then(() => this.openNow.delete(entry));
      this.track(opened.closed);
      return opened;
    }
  }

  /** Counts a session opened before the gate existed (the SFTP session of the connection) until it closes. */
  adopt(channel: ClosingChannel): void {
    this.open++;
    this.track(watched(channel).closed);
  }

  private track(closed: Promise<unknown>): void {
    this.established++;
    if (this.refused && this.established > this.limit) this.limit = this.established;
    void closed.then(() => {
      this.established--;
      this.closedAt.push(Date.now());
      this.release();
    });
  }

  /**
   * Sessions closed this last second: sshd frees a closed session only after it has read what follows the close,
   * so a session opened right after one closed may be refused although the limit was not reached.
   */
  private recentlyClosed(): number {
    const since = Date.now() - 1000;
    while (this.closedAt.length && this.closedAt[0] < since) this.closedAt.shift();
    return this.closedAt.length;
  }

  private readonly closedAt: number[] = [];
  /** What the sessions kpki opened are for (the SFTP session is not among them), for the message of a long wait. */
  private readonly openNow = new Set<{ what: string; since: number }>();

  private async slot(deadline: number, what: string): Promise<void> {
    while (this.open >= this.limit) {
      const left = deadline - Date.now();
      if (left <= 0)
        throw new SessionRefusedError(
          `${this.node}: no SSH session free for ${what} within ${QUEUE_TIMEOUT_MS / 1000} s (${this.open} open, sshd allows ${this.limit}: MaxSessions; open: SFTP${[...this.openNow].map((o) => `, ${o.what} for ${Math.round((Date.now() - o.since) / 1000)} s`).join('')})`,
        );
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1000));
        this.waiting.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  private release(): void {
    this.open--;
    this.waiting.shift()?.();
  }

  /**
   * sshd refused a session. What it allows is at least what is established now, and more may be: ssh2 tells an
   * exec's success only after its request is answered, so sessions sshd accepted before this refusal may still be on
   * their way (track() raises the limit as they come), and a session just closed is freed by sshd only after it has
   * read what follows the close. The number is known exactly when nothing else is opening and nothing just closed.
   */
  private learn(err: Error): void {
    const exact = this.open === this.established && this.recentlyClosed() === 0;
    if (exact && this.established === 0)
      throw new SessionRefusedError(
        `${this.node}: sshd refused a new session with none open (MaxSessions 0, or a ForceCommand/ChrootDirectory that forbids them): ${err.message}`,
        { hint: `kpki needs at least 2 sessions per connection on ${this.node} (SFTP and one program): MaxSessions 2 or more` },
      );
    if (exact && this.established === 1)
      throw new SessionRefusedError(
        `${this.node}: sshd allows one session per connection (MaxSessions 1): kpki needs 2 (SFTP and one program)`,
        {
          hint: `set MaxSessions 2 or more for kpki's user on ${this.node} (Match User <user>)`,
        },
      );
    this.refused = true;
    this.limit = Math.max(2, this.established);
    if (exact && !this.told) {
      this.told = true;
      this.notice?.(
        `${this.node}: sshd refused a new session with ${this.established} open (MaxSessions ${this.established}): kpki keeps to ${this.established} at once`,
      );
    }
  }

  /** A refusal was seen: the limit follows what sshd accepted since (see learn). */
  private refused = false;
}

/**
 * The session, or an error once sshd has not answered within OPEN_TIMEOUT_MS. A session that opens after that is
 * closed at once: kpki no longer counts it, and nobody reads it.
 */
function answered<T>(opening: Promise<Opened<T>>, timeoutMs: number, message: string): Promise<Opened<T>> {
  return new Promise((resolve, reject) => {
    let late = false;
    const timer = setTimeout(() => {
      late = true;
      reject(new SessionRefusedError(message));
    }, timeoutMs);
    opening.then(
      (opened) => {
        clearTimeout(timer);
        if (late) closeChannel(opened.channel);
        else resolve(opened);
      },
      (err) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

/** sshd's refusal of a session channel (MaxSessions): "open failed", administratively prohibited. */
export function isSessionRefusal(err: unknown): boolean {
  const e = err as { reason?: number; message?: string };
  return e?.reason === ADMINISTRATIVELY_PROHIBITED || /Channel open failure: open failed/.test(e?.message ?? '');
}
