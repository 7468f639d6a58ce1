// A bounded number of tasks at once: enough to overlap the fsyncs of a transaction's files (or the round trips of a
// remote node), few enough to stay within an SSH server's session limit.

/** fn over every item, at most `limit` running at once; results in the items' order. The first failure is thrown
 * once every started task has settled, so nothing is still writing when the caller cleans up. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  const failures: unknown[] = [];
  let next = 0;
  const worker = async () => {
    while (next < items.length && failures.length === 0) {
      const i = next++;
      try {
        results[i] = await fn(items[i], i);
      } catch (err) {
        failures.push(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failures.length) throw failures[0];
  return results;
}
