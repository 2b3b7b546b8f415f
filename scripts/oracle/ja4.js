#!/usr/bin/env node
// Prints the JA3 hash and JA4 that the npm package read-tls-client-hello computes for
// raw ClientHello files (the TLS records as received, as goldencap writes them).
//
//   node scripts/oracle/ja4.js conn-1.hello.bin [conn-2.hello.bin ...]
//
// One JSON object per line: {"file", "records", "ja3_hash", "ja4"} or {"file", "error"}.
// The package reads only the first TLS record of a stream, so a ClientHello spread over
// several records is re-framed into one record holding the whole handshake message
// ("records" tells how many it arrived in); a one-record hello is passed as received.
'use strict';

const fs = require('fs');
const stream = require('stream');
const { readTlsClientHello, calculateJa3, calculateJa4 } = require('read-tls-client-hello');

// Returns the handshake message bytes (type, 3-byte length, body) and the record count.
function handshakeMessage(raw) {
  let pos = 0;
  let records = 0;
  const parts = [];
  let have = 0;
  while (pos + 5 <= raw.length) {
    const type = raw[pos];
    const len = raw.readUInt16BE(pos + 3);
    if (type !== 0x16) throw new Error(`record ${records} has content type ${type}, not handshake`);
    if (pos + 5 + len > raw.length) throw new Error('truncated record');
    parts.push(raw.subarray(pos + 5, pos + 5 + len));
    have += len;
    records++;
    pos += 5 + len;
    const hs = Buffer.concat(parts, have);
    if (hs.length >= 4) {
      const msgLen = hs.readUIntBE(1, 3);
      if (hs.length >= 4 + msgLen) return { hs: hs.subarray(0, 4 + msgLen), records };
    }
  }
  throw new Error('incomplete ClientHello');
}

async function one(file) {
  const raw = fs.readFileSync(file);
  const { hs, records } = handshakeMessage(raw);
  let input = raw;
  if (records > 1) {
    if (hs.length > 0xffff) throw new Error('handshake message too large for one record');
    const header = Buffer.from([0x16, raw[1], raw[2], hs.length >> 8, hs.length & 0xff]);
    input = Buffer.concat([header, hs]);
  } else {
    input = raw.subarray(0, 5 + raw.readUInt16BE(3));
  }
  // A byte stream that stays open: the package reads exactly one record from it.
  const src = new stream.PassThrough();
  src.write(input);
  const hello = await readTlsClientHello(src);
  src.destroy();
  return { file, records, ja3_hash: calculateJa3(hello), ja4: calculateJa4(hello) };
}

async function main() {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error('usage: node ja4.js HELLO.bin...');
    process.exit(2);
  }
  for (const file of files) {
    let out;
    try {
      out = await one(file);
    } catch (e) {
      out = { file, error: String(e && e.message ? e.message : e) };
    }
    process.stdout.write(JSON.stringify(out) + '\n');
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
