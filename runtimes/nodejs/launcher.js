#!/usr/bin/env node
// rwhisk's Node.js launcher: the long-lived process of whisk-proxy's actionloop mode.
//
//   launcher.js <code path> <main>
//
// <code path> is a single source file (the proxy wrote /init's code there) or a directory
// (an unpacked zip, with package.json "main" or index.js, and its node_modules). <main> names
// the entry point (default "main"; a dotted path such as "handlers.hello" is followed).
//
// Protocol (see crates/whisk-proxy/src/executor/actionloop.rs): after loading the code it
// writes {"ok":true} on fd 3, or a JSON string "Initialization has failed due to: ..." and
// exits. Then, per line on stdin (the /run body as JSON), it sets process.env.__OW_<KEY> for
// every key but "value", calls main(value), and writes one line on fd 3:
// - the result object (or array): a returned {error: ...} or a rejected promise
//   ({error: <the rejection>}) is an application error, decided by the invoker;
// - a JSON string for a developer error: "An error has occurred: ..." for a synchronous
//   throw, "The action did not return a dictionary." for a result that is no object.
// Its stdout and stderr are flushed before the line, so the proxy puts them before the
// sentinel. The action's own console output goes to the activation's logs.
'use strict';

const fs = require('fs');
const path = require('path');
const readline = require('readline');
const vm = require('vm');
const { createRequire } = require('module');

const ANSWER_FD = 3;
const NOT_A_DICTIONARY = 'The action did not return a dictionary.';
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** Writes one line of JSON text on fd 3 (blocking, whole). */
function writeAnswer(json) {
  const bytes = Buffer.from(json + '\n', 'utf8');
  let offset = 0;
  while (offset < bytes.length) {
    offset += fs.writeSync(ANSWER_FD, bytes, offset);
  }
}

/**
 * Resolves once everything written to stdout and stderr so far has left the process. A
 * stream's writableLength counts the bytes of writes not yet completed; when it is zero
 * (the usual case: Node.js writes pipes synchronously on Linux) there is nothing to wait for.
 */
function flushLogs() {
  const pending = [process.stdout, process.stderr].filter((stream) => stream.writableLength > 0);
  return Promise.all(pending.map((stream) => new Promise((resolve) => stream.write('', resolve))));
}

/** Follows a dotted name ("a.b") from `target`. */
function follow(target, names) {
  for (const name of names) {
    if (target === undefined || target === null) return undefined;
    target = target[name];
  }
  return target;
}

/**
 * Runs a single source file like a CommonJS module, and returns what `mainName` means in
 * it: a top-level declaration (`function main(params) {...}`, as OpenWhisk's Node.js
 * runtime finds it), or else an export (`exports.main = ...`).
 */
function loadSource(file, mainName) {
  let source = fs.readFileSync(file, 'utf8');
  if (source.charCodeAt(0) === 0xfeff) source = source.slice(1);
  if (source.startsWith('#!')) source = '//' + source.slice(2);
  const names = mainName.split('.');
  const first = names[0];
  // The code starts on the wrapper's first line, so line numbers in stack traces hold.
  const lookup = IDENTIFIER.test(first) ? `typeof ${first} === 'undefined' ? undefined : ${first}` : 'undefined';
  const wrapper = `(function (exports, require, module, __filename, __dirname) {${source}\n;return ${lookup};\n})`;
  const compiled = vm.runInThisContext(wrapper, { filename: file });
  const module = { exports: {}, filename: file, id: file, loaded: false };
  const local = compiled.call(module.exports, module.exports, createRequire(file), module, file, path.dirname(file));
  module.loaded = true;
  const found = follow(local, names.slice(1));
  return typeof found === 'function' ? found : follow(module.exports, names);
}

/** Loads the action and returns its entry point; throws a string for a bad action. */
function load(codePath, mainName) {
  let entry;
  if (fs.statSync(codePath).isDirectory()) {
    const hasPackage = fs.existsSync(path.join(codePath, 'package.json'));
    if (!hasPackage && !fs.existsSync(path.join(codePath, 'index.js'))) {
      throw 'Zipped actions must contain either package.json or index.js at the root.';
    }
    process.chdir(codePath);
    entry = follow(require(codePath), mainName.split('.'));
  } else {
    process.chdir(path.dirname(codePath));
    entry = loadSource(codePath, mainName);
  }
  if (typeof entry !== 'function') {
    throw `Action entrypoint '${mainName}' is not a function.`;
  }
  return entry;
}

/** A rejection as a JSON value: an Error becomes {name, message, stack, ...its own fields}. */
function serializeError(error) {
  if (!(error instanceof Error)) return error;
  const out = { name: error.name, message: error.message, stack: error.stack };
  for (const key of Object.keys(error)) {
    out[key] = error[key] instanceof Error ? serializeError(error[key]) : error[key];
  }
  return out;
}

/** A developer error's answer: its message as a JSON string. */
function developerError(message) {
  return JSON.stringify(message);
}

/** Calls the entry point; returns the answer as JSON text: a result, or a developer error. */
async function invoke(main, args) {
  let result;
  try {
    result = main(args);
  } catch (error) {
    console.error(error);
    return developerError('An error has occurred: ' + error);
  }
  if (result && typeof result.then === 'function') {
    try {
      result = await result;
    } catch (error) {
      result = { error: error ? serializeError(error) : {} };
    }
  }
  if (result === undefined) return '{}';
  let text;
  try {
    text = result === null || typeof result !== 'object' ? undefined : JSON.stringify(result);
  } catch (error) {
    console.error(error);
    return developerError('An error has occurred: ' + error);
  }
  // Objects that serialize to something else (a Date, a String object) are no dictionary.
  if (text === undefined || (text[0] !== '{' && text[0] !== '[')) {
    console.error(`Result must be of type object but has type "${typeof result}":`, result);
    return developerError(NOT_A_DICTIONARY);
  }
  return text;
}

/** Sets __OW_<KEY> for the request's keys; removes those of the previous run it lacks. */
function exportContext(request, previous) {
  const names = [];
  for (const [key, value] of Object.entries(request)) {
    if (key === 'value') continue;
    const name = '__OW_' + key.toUpperCase();
    process.env[name] = typeof value === 'string' ? value : JSON.stringify(value);
    names.push(name);
  }
  for (const name of previous) {
    if (!names.includes(name)) delete process.env[name];
  }
  return names;
}

async function serve(main) {
  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity, terminal: false });
  let exported = [];
  for await (const line of lines) {
    let request;
    try {
      request = JSON.parse(line);
    } catch (error) {
      await flushLogs();
      writeAnswer(developerError('The action runtime received a request that is not JSON: ' + error.message));
      continue;
    }
    if (request === null || typeof request !== 'object') request = {};
    exported = exportContext(request, exported);
    const outcome = await invoke(main, request.value === undefined ? {} : request.value);
    await flushLogs();
    writeAnswer(outcome);
  }
  // The proxy closed stdin: the container is going away.
  await flushLogs();
  process.exit(0);
}

function start() {
  const [codePath = '.', mainName = 'main'] = process.argv.slice(2);
  const acknowledge = Boolean(process.env.__OW_WAIT_FOR_ACK);
  delete process.env.__OW_WAIT_FOR_ACK;
  process.on('unhandledRejection', (reason) => {
    console.error('Unhandled promise rejection:', reason);
  });
  let main;
  try {
    main = load(path.resolve(codePath), mainName || 'main');
  } catch (error) {
    console.error('Error during initialization:', error);
    const text = error && error.stack ? String(error.stack) : String(error);
    flushLogs().then(() => {
      writeAnswer(developerError('Initialization has failed due to: ' + text));
      process.exit(1);
    });
    return;
  }
  flushLogs().then(() => {
    if (acknowledge) writeAnswer('{"ok":true}');
    return serve(main);
  });
}

start();
