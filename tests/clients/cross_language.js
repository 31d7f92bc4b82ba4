'use strict';
// The Node side of cross_language_test.py: node cross_language.js SPEC.json
//
// SPEC: { target, cases: [{ kind: 'pool'|'concat', args, inputs: [{ path,
// shape, dtype, bfloat16 }], out }] }. Inputs are raw little-endian files;
// `bfloat16` inputs hold float32 values sent as bfloat16. Writes each
// result as OUT.output.bin (+ OUT.indices.bin) and OUT.json ({ output:
// { dtype, shape }, indices: ... }); a bfloat16 result is written as float32,
// as the C++ CLI and the Python client give it back.

const fs = require('node:fs');
const path = require('node:path');

// The package as a user at the repo root requires it.
const { Client, DTYPES, bfloat16FromFloat32, float32FromBfloat16 } =
  require(path.resolve(__dirname, '..', '..', 'client', 'node'));

function readTensor({ path: file, shape, dtype, bfloat16 }) {
  const bytes = fs.readFileSync(file);
  // Copy: a Buffer's memory may not be aligned for the element type.
  const buffer = new Uint8Array(bytes).buffer;
  if (bfloat16) {
    return { data: bfloat16FromFloat32(new Float32Array(buffer)), shape, dtype: 'bfloat16' };
  }
  // numpy names its types as poolcat does.
  return { data: new DTYPES[dtype].array(buffer), shape, dtype };
}

function write(prefix, key, tensor, meta) {
  let { data, dtype } = tensor;
  if (dtype === 'bfloat16') {
    data = float32FromBfloat16(data);
    dtype = 'float32';
  }
  fs.writeFileSync(`${prefix}.${key}.bin`, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  // eslint-disable-next-line no-param-reassign
  meta[key] = { dtype, shape: tensor.shape };
}

async function main() {
  const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const client = new Client(spec.target, { timeout_ms: 120000 });
  try {
    for (const c of spec.cases) {
      const inputs = c.inputs.map(readTensor);
      const meta = {};
      if (c.kind === 'pool') {
        const out = await client.pool(inputs[0], c.args);
        write(c.out, 'output', out, meta);
        if (out.indices) write(c.out, 'indices', out.indices, meta);
      } else {
        write(c.out, 'output', await client.concat(inputs, c.args), meta);
      }
      fs.writeFileSync(`${c.out}.json`, JSON.stringify(meta));
    }
  } finally {
    client.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
