// Self-test front end (vaecourse.exercises.selftest, one per chapter): questions with immediate
// feedback and a hint. It judges in the page, so it works the same in a notebook with a kernel and on
// the static website with none (book/_static/site/widgets.js renders it from the embedded state).
//
// A question (JSON, written in vaecourse/exercises/selftest.py):
//   {id, kind: "number" | "choice" | "expression", prompt, hint, explain,
//    number:     answer, rtol, atol
//    choice:     choices: [text, ...], answer: index
//    expression: answer: "k/2*(c^2 - 1 - 2*log(c))", variables: ["c", "k"], points: [{c: 2, k: 2}, ...]
//    wrong: [{answer, message}]   (optional: a known wrong answer and what it says)}

const FUNCTIONS = {
  exp: Math.exp, log: Math.log, ln: Math.log, sqrt: Math.sqrt, abs: Math.abs,
  sin: Math.sin, cos: Math.cos, tan: Math.tan, sinh: Math.sinh, cosh: Math.cosh, tanh: Math.tanh,
  asinh: Math.asinh, log2: Math.log2, log10: Math.log10,
};
const CONSTANTS = { pi: Math.PI, e: Math.E };

// --- a small, safe expression parser (no eval): + - * / ^ ** ( ) functions, numbers, variables -------

function tokenize(text) {
  const tokens = [];
  const re = /\s*(?:(\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)|([A-Za-z_][A-Za-z_0-9]*)|(\*\*|[-+*/^(),]))/y;
  let at = 0;
  const s = text.replace(/\s+$/, "");
  while (at < s.length) {
    re.lastIndex = at;
    const m = re.exec(s);
    if (!m) throw new Error(`cannot read "${s.slice(at).trim()}"`);
    if (m[1] !== undefined) tokens.push({ kind: "number", value: parseFloat(m[1]) });
    else if (m[2] !== undefined) tokens.push({ kind: "name", value: m[2] });
    else tokens.push({ kind: "op", value: m[3] === "**" ? "^" : m[3] });
    at = re.lastIndex;
  }
  return tokens;
}

export function parse(text) {
  const tokens = tokenize(String(text));
  let i = 0;
  const peek = () => tokens[i];
  const take = (op) => {
    if (peek() && peek().kind === "op" && peek().value === op) { i++; return true; }
    return false;
  };
  function sum() {
    let node = product();
    for (;;) {
      if (take("+")) node = { op: "+", a: node, b: product() };
      else if (take("-")) node = { op: "-", a: node, b: product() };
      else return node;
    }
  }
  function product() {
    let node = unary();
    for (;;) {
      if (take("*")) node = { op: "*", a: node, b: unary() };
      else if (take("/")) node = { op: "/", a: node, b: unary() };
      else if (peek() && (peek().kind === "number" || peek().kind === "name" || peek().value === "(")) {
        node = { op: "*", a: node, b: unary() };  // implicit product: 2c, 2(c+1)
      } else return node;
    }
  }
  function unary() {
    if (take("-")) return { op: "neg", a: unary() };
    if (take("+")) return unary();
    return power();
  }
  function power() {
    const base = atom();
    if (take("^")) return { op: "^", a: base, b: unary() };
    return base;
  }
  function atom() {
    const t = tokens[i++];
    if (!t) throw new Error("the expression ends too early");
    if (t.kind === "number") return { op: "num", value: t.value };
    if (t.kind === "name") {
      if (take("(")) {
        if (!(t.value in FUNCTIONS)) throw new Error(`unknown function ${t.value}`);
        const arg = sum();
        if (!take(")")) throw new Error(`missing ) after ${t.value}(`);
        return { op: "call", name: t.value, a: arg };
      }
      return { op: "var", name: t.value };
    }
    if (t.value === "(") {
      const inner = sum();
      if (!take(")")) throw new Error("missing )");
      return inner;
    }
    throw new Error(`unexpected "${t.value}"`);
  }
  const tree = sum();
  if (i < tokens.length) throw new Error(`unexpected "${tokens[i].value}"`);
  return tree;
}

export function evaluate(tree, values) {
  switch (tree.op) {
    case "num": return tree.value;
    case "var":
      if (tree.name in values) return values[tree.name];
      if (tree.name in CONSTANTS) return CONSTANTS[tree.name];
      throw new Error(`unknown name ${tree.name}`);
    case "call": return FUNCTIONS[tree.name](evaluate(tree.a, values));
    case "neg": return -evaluate(tree.a, values);
    case "+": return evaluate(tree.a, values) + evaluate(tree.b, values);
    case "-": return evaluate(tree.a, values) - evaluate(tree.b, values);
    case "*": return evaluate(tree.a, values) * evaluate(tree.b, values);
    case "/": return evaluate(tree.a, values) / evaluate(tree.b, values);
    case "^": return Math.pow(evaluate(tree.a, values), evaluate(tree.b, values));
    default: throw new Error(`unknown operation ${tree.op}`);
  }
}

function near(x, y, rtol, atol) {
  return Number.isFinite(x) && Math.abs(x - y) <= rtol * Math.abs(y) + atol;
}

function readNumber(text) {
  const value = evaluate(parse(text), {});  // "784*ln(2)" is a number too
  if (!Number.isFinite(value)) throw new Error("that is not a finite number");
  return value;
}

// The verdict on one answer: {correct, message}. `answer` is the text typed (or the choice's index).
export function judge(question, answer) {
  const rtol = question.rtol ?? 1e-3;
  const atol = question.atol ?? 1e-9;
  const wrong = question.wrong || [];
  const hint = question.hint ? ` Hint: ${question.hint}` : "";
  const right = () => ({ correct: true, message: `Right. ${question.explain || ""}`.trim() });
  if (answer === null || answer === undefined || String(answer).trim() === "") {
    return { correct: false, message: "Give an answer first." };
  }
  try {
    if (question.kind === "choice") {
      const index = Number(answer);
      if (index === question.answer) return right();
      const known = wrong.find((w) => w.answer === index);
      return { correct: false, message: `Not this one.${known ? " " + known.message : ""}${hint}` };
    }
    if (question.kind === "number") {
      const value = readNumber(answer);
      if (near(value, question.answer, rtol, atol)) return right();
      const known = wrong.find((w) => near(value, w.answer, rtol, atol));
      return { correct: false, message: `Not yet.${known ? " " + known.message : ""}${hint}` };
    }
    if (question.kind === "expression") {
      const tree = parse(answer);
      const reference = parse(question.answer);
      const bad = question.points.find((p) => !near(evaluate(tree, p), evaluate(reference, p), rtol, atol));
      if (!bad) return right();
      const known = wrong.find((w) => question.points.every((p) => near(evaluate(tree, p),
        evaluate(parse(w.answer), p), rtol, atol)));
      const at = Object.entries(bad).map(([k, v]) => `${k} = ${v}`).join(", ");
      return { correct: false, message: `Not yet: at ${at} yours gives ${evaluate(tree, bad).toPrecision(4)}.`
        + `${known ? " " + known.message : ""}${hint}` };
    }
    return { correct: false, message: `unknown question kind ${question.kind}` };
  } catch (error) {
    return { correct: false, message: `Cannot read your answer: ${error.message}.` };
  }
}

// --- the front end ---------------------------------------------------------------------------------

const STYLE = `
.vae-selftest { font-family: sans-serif; font-size: 14px; display: flex; flex-direction: column; gap: 12px;
                max-width: 100%; box-sizing: border-box; }
.vae-selftest-question { border-left: 3px solid #ccc; padding: 4px 10px; }
.vae-selftest-question.vae-right { border-left-color: #2a7a2a; }
.vae-selftest-question.vae-wrong { border-left-color: #b03a2e; }
.vae-selftest-prompt { margin-bottom: 6px; }
.vae-selftest-row { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; }
.vae-selftest input[type=text] { font-family: monospace; min-width: 16em; max-width: 100%; }
.vae-selftest-feedback { margin-top: 4px; }
.vae-selftest-score { font-weight: 600; }
`;

function element(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function render({ model, el }) {
  const questions = model.get("questions");
  const title = model.get("title");
  el.classList.add("vae-selftest");
  el.append(element("style", "", STYLE));
  if (title) el.append(element("div", "vae-selftest-score", title));
  const results = questions.map(() => false);
  const score = element("div", "vae-selftest-score");
  const update = () => { score.textContent = `${results.filter(Boolean).length} of ${questions.length} right`; };
  questions.forEach((question, n) => {
    const box = element("div", "vae-selftest-question");
    box.dataset.id = question.id;
    box.append(element("div", "vae-selftest-prompt", `${n + 1}. ${question.prompt}`));
    const row = element("div", "vae-selftest-row");
    let read;
    if (question.kind === "choice") {
      const name = `vae-selftest-${model.get("chapter")}-${question.id}-${Math.random().toString(36).slice(2)}`;
      question.choices.forEach((text, i) => {
        const label = element("label");
        const radio = element("input");
        Object.assign(radio, { type: "radio", name, value: String(i) });
        label.append(radio, " ", text);
        row.append(label);
      });
      read = () => { const c = row.querySelector("input:checked"); return c ? c.value : ""; };
    } else {
      const input = element("input");
      input.type = "text";
      input.setAttribute("aria-label", `answer to question ${n + 1}`);
      input.placeholder = question.kind === "expression" ? `in ${question.variables.join(", ")}` : "a number";
      row.append(input);
      read = () => input.value;
      input.addEventListener("keydown", (event) => { if (event.key === "Enter") check(); });
    }
    const button = element("button", "vae-selftest-check", "Check");
    button.type = "button";
    row.append(button);
    const feedback = element("div", "vae-selftest-feedback");
    feedback.setAttribute("role", "status");
    const check = () => {
      const verdict = judge(question, read());
      results[n] = verdict.correct;
      box.classList.toggle("vae-right", verdict.correct);
      box.classList.toggle("vae-wrong", !verdict.correct);
      feedback.textContent = verdict.message;
      update();
    };
    button.addEventListener("click", check);
    if (question.kind === "choice") row.addEventListener("change", check);
    box.append(row, feedback);
    el.append(box);
  });
  update();
  el.append(score);
}

export default { render };
