// Moved to util/atomic-file.ts (the one copy every part uses); this path stays so that code written
// against it keeps compiling. New code imports util/atomic-file.js.
export { syncDir, writeFileAtomic, type AtomicWriteOptions } from '../util/atomic-file.js';
