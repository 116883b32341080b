// Predicts with a Sense/Net TF.js export in the browser: a form for row fields, file inputs for images.
//
// The model directory (this page's own by default, or ?model=DIR/) holds what
// `convert(model, None, DIR, "tfjs")` writes: model.json, its weight shards and sensenet.json
// (fields, classes, image size, rescale type, input and output names). The graph takes:
//   - "input_matrix": one float32 column per non-image field in `preprocess` order: numbers as
//     they are (NaN when missing), categories as the position of the value in the field's values
//     (-1 when missing or unknown); standardising and one-hot encoding happen in the graph;
//   - one float32 (1, height, width, 3) RGB 0-255 pixel input per image field, already fitted to
//     the network by the rescale type (warp, pad or crop, nearest neighbour), done here exactly as
//     sensenet/inputs/rescale.py does it;
//   - a detector: its fitted image as "pixels" and the original image's [height, width] as
//     "image_size"; it returns boxes in the original image's pixels, mapped and rounded as BigML does.
// A self-contained export (convert(..., "tfjs", self_contained=True)) takes one (1, 1) input per
// non-image field instead of the matrix: float32 numbers, string categories ("" when missing).
// `tf` is the global of tf.min.js, loaded by index.html before this module. ?backend=cpu (or wasm,
// webgl, ...) picks TensorFlow.js' backend; by default it picks the fastest it finds.

const MISSING_CATEGORY = -1;

// ---- image fitting, as sensenet/inputs/rescale.py (float32 arithmetic where it uses float32)

const f32 = Math.fround;

function roundHalfEven(x) {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

// The input row (or column) TensorFlow's nearest-neighbour resize reads for output ones
// start .. start + count (a crop window never computes the whole scaled side).
function sourceIndices(inSize, outSize, start = 0, count = outSize) {
  const scale = f32(f32(inSize) / f32(outSize));
  const indices = new Int32Array(Math.max(0, Math.min(outSize, start + count) - start));
  for (let i = 0; i < indices.length; i++) {
    indices[i] = Math.min(Math.floor(f32(f32(start + i + 0.5) * scale)), inSize - 1);
  }
  return indices;
}

function scaledSides(image, height, width, pick) {
  const ratio = pick(f32(f32(height) / f32(image.height)), f32(f32(width) / f32(image.width)));
  const scaled = [f32(f32(image.height) * ratio), f32(f32(image.width) * ratio)];
  return { scaled, sizes: scaled.map((side) => Math.max(roundHalfEven(side), 1)) };
}

// Where the image lands in the network input (see Placement in rescale.py).
const PLACEMENTS = {
  warp(image, height, width) {
    return { height, width, scaleY: height / image.height, scaleX: width / image.width, top: 0, left: 0 };
  },
  pad(image, height, width) {
    const { scaled, sizes } = scaledSides(image, height, width, Math.min);
    const ratio = f32(scaled[0] / f32(image.height));
    return { height: sizes[0], width: sizes[1], scaleY: ratio, scaleX: ratio, top: 0, left: 0 };
  },
  crop(image, height, width) {
    const { scaled, sizes } = scaledSides(image, height, width, Math.max);
    const top = roundHalfEven(f32(f32(scaled[0] - f32(height)) / 2));
    const left = roundHalfEven(f32(f32(scaled[1] - f32(width)) / 2));
    const ratio = f32(scaled[0] / f32(image.height));
    return { height: sizes[0], width: sizes[1], scaleY: ratio, scaleX: ratio, top, left };
  },
};

// `image` ({width, height, rgb: Uint8Array}) fitted to (height, width): Float32Array RGB 0-255.
function fitImage(image, height, width, rescaleType) {
  const place = PLACEMENTS[rescaleType](image, height, width);
  const rows = sourceIndices(image.height, place.height, place.top, height);
  const columns = sourceIndices(image.width, place.width, place.left, width);
  const out = new Float32Array(height * width * 3);
  if (rescaleType === "pad") {
    // The padding level: the float32 mean of the resized image, summed as TensorFlow sums it.
    const resized = new Float32Array(rows.length * columns.length * 3);
    let at = 0;
    for (const r of rows) {
      for (const c of columns) {
        const from = (r * image.width + c) * 3;
        resized[at++] = image.rgb[from];
        resized[at++] = image.rgb[from + 1];
        resized[at++] = image.rgb[from + 2];
      }
    }
    out.fill(float32Mean(resized));
  }
  rows.forEach((r, y) => {
    columns.forEach((c, x) => {
      const from = (r * image.width + c) * 3;
      const to = (y * width + x) * 3;
      out[to] = image.rgb[from];
      out[to + 1] = image.rgb[from + 1];
      out[to + 2] = image.rgb[from + 2];
    });
  });
  return { pixels: out, place };
}

// The float32 mean of `values` in the order TensorFlow's CPU reduce_mean adds them on two
// cores (sensenet/inputs/float32_mean.py explains the order): the pad level, to the last bit.
const PACKET = 8;
const LEAF = 1024;
const TWO_SHARDS_FROM = 2 ** 17;

function pieceSum(values, start, end) {
  const size = end - start;
  const paired = Math.floor(size / (2 * PACKET)) * 2 * PACKET;
  const packed = Math.floor(size / PACKET) * PACKET;
  const lanes = new Float32Array(2 * PACKET); // every store rounds to float32
  for (let i = 0; i < paired; i += 2 * PACKET) {
    for (let k = 0; k < 2 * PACKET; k++) lanes[k] = lanes[k] + values[start + i + k];
  }
  const first = lanes.slice(0, PACKET);
  if (packed > paired) for (let k = 0; k < PACKET; k++) first[k] = first[k] + values[start + paired + k];
  for (let k = 0; k < PACKET; k++) first[k] = first[k] + lanes[PACKET + k];
  let scalar = 0;
  for (let i = packed; i < size; i++) scalar = f32(scalar + values[start + i]);
  const low = [0, 1, 2, 3].map((k) => f32(first[k] + first[k + 4]));
  return f32(scalar + f32(f32(low[0] + low[2]) + f32(low[1] + low[3])));
}

function treeSum(values, start, end, first) {
  const size = end - start;
  if (size <= PACKET * LEAF) return pieceSum(values, start, end);
  const split = PACKET * Math.ceil((first + Math.ceil(size / 2)) / PACKET);
  const left = Math.min(split - first, size);
  let total = treeSum(values, start, start + left, first);
  if (left < size) total = f32(total + treeSum(values, start + left, end, split));
  return total;
}

function float32Mean(values) {
  const size = values.length;
  const block = Math.floor(f32(f32(size) / f32(size >= TWO_SHARDS_FROM ? 2 : 1)));
  const blocks = Math.floor(size / block);
  let total = blocks * block < size ? treeSum(values, blocks * block, size, blocks * block) : 0;
  for (let k = 0; k < blocks; k++) total = f32(total + treeSum(values, k * block, (k + 1) * block, k * block));
  return f32(total / f32(size));
}

// A file's pixels as RGB bytes; alpha is dropped, as sensenet does. No file: one black pixel.
async function readImage(file) {
  if (!file) return { width: 1, height: 1, rgb: new Uint8Array(3), bitmap: null };
  const bitmap = await createImageBitmap(file, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(bitmap, 0, 0);
  const rgba = context.getImageData(0, 0, bitmap.width, bitmap.height).data;
  const rgb = new Uint8Array(bitmap.width * bitmap.height * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    rgb[j] = rgba[i];
    rgb[j + 1] = rgba[i + 1];
    rgb[j + 2] = rgba[i + 2];
  }
  return { width: bitmap.width, height: bitmap.height, rgb, bitmap };
}

// ---- row encoding, as sensenet/inputs/rows.py

function encodeField(field, raw) {
  if (field.optype === "categorical") {
    const position = field.values.indexOf(raw);
    return position === -1 ? MISSING_CATEGORY : position;
  }
  const text = raw.trim();
  if (text === "") return NaN;
  const value = Number(text);
  if (!Number.isFinite(value)) throw new Error(`${field.name}: ${JSON.stringify(raw)} is not a number`);
  return value;
}

// ---- the page

const page = {
  status: document.getElementById("status"),
  form: document.getElementById("fields"),
  summary: document.getElementById("summary"),
  canvas: document.getElementById("canvas"),
  result: document.getElementById("result"),
};

function setStatus(text, state) {
  page.status.textContent = text;
  page.status.dataset.state = state;
}

function control(field, position) {
  const label = document.createElement("label");
  label.textContent = field.name;
  label.htmlFor = `field-${position}`;
  let input;
  if (field.optype === "categorical") {
    input = document.createElement("select");
    input.add(new Option("(missing)", ""));
    for (const value of field.values) input.add(new Option(value, value));
  } else if (field.optype === "image") {
    input = document.createElement("input");
    input.type = "file";
    input.accept = "image/*";
  } else {
    input = document.createElement("input");
    input.type = "text";
    input.inputMode = "decimal";
    input.placeholder = "empty = missing";
  }
  input.id = `field-${position}`;
  input.dataset.field = String(position);
  page.form.append(label, input);
  return input;
}

function buildForm(description) {
  const inputs = description.fields.map(control);
  const button = document.createElement("button");
  button.type = "submit";
  button.id = "predict";
  button.textContent = "Predict";
  page.form.append(button);
  return inputs;
}

function showTable(headers, rows) {
  const table = document.createElement("table");
  const head = table.createTHead().insertRow();
  for (const text of headers) head.append(Object.assign(document.createElement("th"), { textContent: text }));
  const body = table.createTBody();
  for (const row of rows) {
    const tr = body.insertRow();
    for (const value of row) tr.insertCell().textContent = value;
  }
  page.summary.replaceChildren(table);
}

function drawBoxes(image, objects) {
  const { canvas } = page;
  canvas.width = image.width;
  canvas.height = image.height;
  canvas.hidden = false;
  const context = canvas.getContext("2d");
  context.drawImage(image.bitmap, 0, 0);
  context.lineWidth = Math.max(2, Math.round(image.width / 300));
  context.font = `${Math.max(12, Math.round(image.width / 50))}px sans-serif`;
  for (const { box, label, score } of objects) {
    const [x1, y1, x2, y2] = box;
    context.strokeStyle = "#ff2d55";
    context.strokeRect(x1, y1, x2 - x1, y2 - y1);
    context.fillStyle = "#ff2d55";
    context.fillText(`${label} ${score.toFixed(3)}`, x1, Math.max(y1 - 4, 12));
  }
}

async function predictRows(model, description, inputs) {
  const feeds = {};
  const images = [];
  const rowFields = description.fields.filter((field) => field.optype !== "image");
  if (description.inputs.matrix) {
    const values = [];
    description.fields.forEach((field, k) => {
      if (field.optype !== "image") values.push(encodeField(field, inputs[k].value));
    });
    feeds[description.inputs.matrix] = tf.tensor2d(values, [1, rowFields.length], "float32");
  } else if (description.inputs.fields) {
    // A self-contained export: raw values, one input per field (categories as strings).
    let position = 0;
    description.fields.forEach((field, k) => {
      if (field.optype === "image") return;
      const name = description.inputs.fields[position++];
      feeds[name] = field.optype === "categorical"
        ? tf.tensor2d([[inputs[k].value]], [1, 1], "string")
        : tf.tensor2d([[encodeField(field, inputs[k].value)]], [1, 1], "float32");
    });
  }
  const { height, width, rescale_type: rescaleType } = description.image || {};
  let imageInput = 0;
  for (const [k, field] of description.fields.entries()) {
    if (field.optype !== "image") continue;
    const image = await readImage(inputs[k].files[0]);
    const { pixels } = fitImage(image, height, width, rescaleType);
    feeds[description.inputs.images[imageInput++]] = tf.tensor4d(pixels, [1, height, width, 3], "float32");
    images.push(image);
  }
  const output = await model.executeAsync(feeds);
  const values = Array.from(await output.data());
  tf.dispose([output, ...Object.values(feeds)]);
  if (description.kind === "classification") {
    const best = values.indexOf(Math.max(...values));
    showTable(["class", "probability"], description.classes.map((name, i) => [name, values[i].toFixed(6)]));
    return { prediction: description.classes[best], probability: values[best], probabilities: values };
  }
  showTable(["prediction"], [[values[0].toPrecision(8)]]);
  return { prediction: values[0] };
}

async function detect(model, description, inputs) {
  const position = description.fields.findIndex((field) => field.optype === "image");
  const file = inputs[position].files[0];
  if (!file) throw new Error("choose an image file");
  const image = await readImage(file);
  const { height, width, rescale_type: rescaleType } = description.image;
  const { pixels } = fitImage(image, height, width, rescaleType);
  const feeds = {
    [description.inputs.images[0]]: tf.tensor4d(pixels, [1, height, width, 3], "float32"),
    [description.inputs.image_size]: tf.tensor1d([image.height, image.width], "float32"),
  };
  const tensors = await model.executeAsync(feeds);
  const out = {};
  for (const [i, name] of description.outputs.entries()) out[name] = Array.from(await tensors[i].data());
  tf.dispose([...tensors, ...Object.values(feeds)]);
  const objects = [];
  for (let i = 0; i < out.count[0]; i++) {
    const box = out.boxes.slice(4 * i, 4 * i + 4); // the graph maps and rounds them as BigML does
    objects.push({ box, label: description.classes[out.classes[i]], score: out.scores[i] });
  }
  drawBoxes(image, objects);
  showTable(["label", "score", "box [x1, y1, x2, y2]"], objects.map((o) => [o.label, o.score.toFixed(5), o.box.join(", ")]));
  return { objects };
}

async function main() {
  const query = new URLSearchParams(location.search);
  const base = new URL(query.get("model") || "./", location.href);
  if (query.get("backend")) await tf.setBackend(query.get("backend"));
  const description = await (await fetch(new URL("sensenet.json", base))).json();
  const model = await tf.loadGraphModel(new URL("model.json", base).href);
  document.getElementById("title").textContent = `Sense/Net ${description.kind} model`;
  const inputs = buildForm(description);
  const predict = description.kind === "detection" ? detect : predictRows;
  page.form.addEventListener("submit", async (event) => {
    event.preventDefault();
    page.result.dataset.state = "running";
    try {
      const result = await predict(model, description, inputs);
      page.result.textContent = JSON.stringify(result);
      page.result.dataset.state = "done";
    } catch (error) {
      page.result.textContent = String(error.message || error);
      page.result.dataset.state = "error";
    }
  });
  setStatus(`Ready (TensorFlow.js ${tf.version.tfjs}, backend ${tf.getBackend()}).`, "ready");
}

main().catch((error) => setStatus(`Could not load the model: ${error.message || error}`, "error"));
