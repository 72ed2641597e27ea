// Build the prebuilt JupyterLab extension into ../radnb/labextension (package.json "jupyterlab.outputDir").
// @jupyterlab/builder needs the core package list of the JupyterLab it targets: the "staging" folder of
// the jupyterlab Python package ($PYTHON, default python3), or JUPYTERLAB_CORE_PATH.
const { execFileSync } = require('child_process');

const python = process.env.PYTHON || 'python3';
let core = process.env.JUPYTERLAB_CORE_PATH;
if (!core) {
  try {
    core = execFileSync(python, ['-c', 'import jupyterlab, os; print(os.path.join(os.path.dirname(jupyterlab.__file__), "staging"))'])
      .toString()
      .trim();
  } catch (err) {
    console.error(`Building the radnb lab extension needs JupyterLab 4 installed for ${python} (set PYTHON=/path/to/python).`);
    process.exit(1);
  }
}
const builder = require.resolve('@jupyterlab/builder/lib/build-labextension.js');
execFileSync(process.execPath, [builder, '--core-path', core, '.'], { stdio: 'inherit' });

// Record which sources this build came from: tests/test_labextension_packaging.py recomputes the hash
// (Python, no Node) and fails when the committed build is older than the TypeScript.
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
function sourceFiles() {
  const out = ['package.json', 'tsconfig.json'];
  for (const dir of ['src', 'style']) {
    for (const name of fs.readdirSync(dir).sort()) out.push(`${dir}/${name}`);
  }
  return out;
}
const hash = crypto.createHash('sha256');
for (const file of sourceFiles()) {
  hash.update(file + '\n');
  hash.update(fs.readFileSync(file));
}
const out = path.join('..', 'radnb', 'labextension');
fs.writeFileSync(path.join(out, 'source-hash.txt'), hash.digest('hex') + '\n');
// `jupyter labextension list` names the Python package that installed the extension from this file
fs.copyFileSync('install.json', path.join(out, 'install.json'));
