// Runs TensorFlow.js graph-model directories on float32 matrices, in pure JavaScript (CPU backend).
// Usage: node predict.js JOBS.json
// JOBS.json is a list of {"model": DIR, "inputs": {NAME: {"file": FILE, "shape": [...]}, ...}}, NAME
// being a key of the model's signature inputs and FILE little-endian float32 values (NaN allowed);
// a string input (self-contained exports) is {"strings": [...], "shape": [...]} instead.
// Prints, as JSON, one list per job with {"shape": [...], "values": [...]} for each model output
// (executeAsync, which models with NonMaxSuppression need, e.g. detectors).
const fs = require("fs");
const path = require("path");
const tf = loadTfjs();

// The pinned packages are installed in this directory (tests/conftest.py runs `npm ci` when they are
// absent); without them, one clear line instead of Node's stack.
function loadTfjs() {
  try {
    return require("@tensorflow/tfjs");
  } catch (error) {
    if (error.code !== "MODULE_NOT_FOUND") throw error;
    console.error(
      `@tensorflow/tfjs is not installed: run \`npm ci --ignore-scripts\` in ${__dirname} ` +
        "(the test session does it when npm is on PATH and the npm registry is reachable)"
    );
    process.exit(1);
  }
}

function readModel(dir) {
  const json = JSON.parse(fs.readFileSync(path.join(dir, "model.json"), "utf8"));
  const weightSpecs = [];
  const buffers = [];
  for (const group of json.weightsManifest) {
    weightSpecs.push(...group.weights);
    for (const shard of group.paths) buffers.push(fs.readFileSync(path.join(dir, shard)));
  }
  const joined = Buffer.concat(buffers);
  const weightData = joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength);
  return tf.io.fromMemory({
    modelTopology: json.modelTopology,
    weightSpecs,
    weightData,
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy,
    signature: json.signature,
  });
}

function readTensor({ file, shape, strings }) {
  if (strings) return tf.tensor(strings, shape, "string");
  const raw = fs.readFileSync(file);
  const values = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  return tf.tensor(values, shape, "float32");
}

async function run(job) {
  const model = await tf.loadGraphModel(readModel(job.model));
  const inputs = {};
  for (const [name, spec] of Object.entries(job.inputs)) inputs[name] = readTensor(spec);
  let outputs = await model.executeAsync(inputs); // NonMaxSuppression runs asynchronously in TF.js
  if (!Array.isArray(outputs)) outputs = [outputs];
  return outputs.map((t) => ({ shape: t.shape, values: Array.from(t.dataSync()) }));
}

async function main() {
  await tf.setBackend("cpu");
  const jobs = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const results = [];
  for (const job of jobs) results.push(await run(job));
  process.stdout.write(JSON.stringify(results));
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
