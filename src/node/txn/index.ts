// The txn/ room of node/, its only door for the rest of kpki (the layer test refuses deep imports from outside the
// room). The write transaction of one node: the lock, backups, the journal that rolls a killed run back, atomic writes
// read back, restore, pruning, what a killed run leaves, and the parked-manifest journal.
export * from './apply.js';
export * from './backup.js';
export * from './leftovers.js';
export * from './parked-journal.js';
export * from './prune.js';
export * from './restore.js';
