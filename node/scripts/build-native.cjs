// `npm install` / `npm run build:native`: builds build/Release/storyloom.node
// and libstoryloom.so with cmake-js, which drives CMakeLists.txt (the engine
// comes from the repository root by add_subdirectory). Node-API headers come
// from the node-api-headers package (package.json binary.napi_versions), so
// nothing is downloaded.
'use strict';
const { spawnSync } = require('node:child_process');
const os = require('node:os');
const path = require('node:path');

const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
const jobs = String(process.env.STORYLOOM_BUILD_JOBS || (os.availableParallelism ? os.availableParallelism() : os.cpus().length));
const args = [cmakeJs, 'compile', '--out', 'build', '--parallel', jobs, ...process.argv.slice(2)];
const r = spawnSync(process.execPath, args, { cwd: path.join(__dirname, '..'), stdio: 'inherit' });
if (r.error) throw r.error;
process.exit(r.status ?? 1);
