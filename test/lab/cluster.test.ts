// Every test that needs the running 3 + 1 lab, in one process so that they share one lab (see suites/shared.ts).
import './suites/shared.js';
import './suites/lab-itself.js';
import './suites/cluster-check.js';
import './suites/inventories.js';
import './suites/service.js';
import './suites/rollout.js';
import './suites/san.js';
import './suites/external-ca.js';
import './suites/ca-plan.js';
import './suites/ca-rotate.js';
import './suites/sa-rotate.js';
import './suites/cluster-ops.js';
import './suites/timer.js';
import './suites/runtime.js';
import './suites/recover.js';
import './suites/cluster-ca-rotate.js';
