'use strict';
// Finds and loads the native addon built for this platform (`npm run build`
// writes it next to package.json as erldp.<platform>.node, the napi-rs
// naming). A package carries the build of the machine that packed it; on
// Linux a glibc build is looked for before a musl one.

const fs = require('node:fs');
const path = require('node:path');

/** The napi-rs names of the builds that can run here, most likely first. */
function candidates() {
  const { platform, arch } = process;
  switch (platform) {
    case 'linux':
      return [`linux-${arch}-gnu`, `linux-${arch}-musl`];
    case 'win32':
      return [`win32-${arch}-msvc`];
    default:
      return [`${platform}-${arch}`];
  }
}

function load() {
  const names = candidates();
  const files = names.map((name) => path.join(__dirname, '..', `erldp.${name}.node`));
  const file = files.find((f) => fs.existsSync(f));
  if (!file) {
    throw new Error(
      `erldp: no native addon for ${names.join(' or ')} in ${path.dirname(files[0])}; ` +
        'build it from the repository with `npm run build` (needs Rust)',
    );
  }
  return require(file);
}

module.exports = load();
