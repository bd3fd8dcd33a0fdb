'use strict';
// Finds and loads the native addon built for this platform (`npm run build`
// writes it next to package.json as erldp.<platform>.node, the napi-rs
// naming).

const path = require('node:path');

function isMusl() {
  // glibc reports its version in the process report; musl does not.
  const { glibcVersionRuntime } = process.report.getReport().header;
  return !glibcVersionRuntime;
}

function platformName() {
  const { platform, arch } = process;
  switch (platform) {
    case 'linux':
      return `linux-${arch}-${isMusl() ? 'musl' : 'gnu'}`;
    case 'win32':
      return `win32-${arch}-msvc`;
    default:
      return `${platform}-${arch}`;
  }
}

function load() {
  const name = platformName();
  const file = path.join(__dirname, '..', `erldp.${name}.node`);
  try {
    return require(file);
  } catch (err) {
    if (err.code !== 'MODULE_NOT_FOUND') throw err;
    throw new Error(
      `erldp: no native addon for ${name} (looked for ${file}); ` +
        'build it from the repository with `npm run build` (needs Rust)',
      { cause: err },
    );
  }
}

module.exports = load();
