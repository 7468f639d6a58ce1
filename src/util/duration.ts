// Durations as operators type them: Go's "720h", "1h30m", plus days and years ("30d", "1y").

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
  y: 365 * 86_400_000,
};

export function parseDuration(text: string): number {
  const trimmed = text.trim();
  if (!/^(\d+(\.\d+)?(ms|s|m|h|d|w|y))+$/.test(trimmed)) {
    throw new Error(`invalid duration "${text}": use forms like 30d, 720h, 1y, 1h30m`);
  }
  let total = 0;
  for (const match of trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)/g)) {
    total += Number(match[1]) * UNIT_MS[match[2]];
  }
  return total;
}

/** Short human form for plans and messages: "364d", "5h", "<expired 3d ago>". */
export function humanDuration(ms: number): string {
  const abs = Math.abs(ms);
  const text =
    abs >= 365 * 86_400_000 && abs % (365 * 86_400_000) === 0
      ? `${abs / (365 * 86_400_000)}y`
      : abs >= 86_400_000
        ? `${Math.floor(abs / 86_400_000)}d`
        : abs >= 3_600_000
          ? `${Math.floor(abs / 3_600_000)}h`
          : `${Math.floor(abs / 60_000)}m`;
  return ms < 0 ? `-${text}` : text;
}
