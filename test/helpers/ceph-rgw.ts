// The test suites' S3 server (Ceph RGW on loopback). The code is shared with the S3 benchmark and
// lives in bench/ceph-rgw.ts, since the benchmark is built without test/.
export { CEPH_TOOLS, startCephRgw, type CephRgw, type CephRgwOptions } from '../../bench/ceph-rgw.js';
