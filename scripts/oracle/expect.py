#!/usr/bin/env python3
"""Expected fingerprint values for the golden files, built from tshark-decoded fields.

Standard library only (Python 3.11). Used by scripts/capture-goldens.sh; see
scripts/README.md. The rules are those of shared spec fingerprints.md; every function
below names the rule it implements.

  expect.py build --pdml ALL.pdml --server-port P --capdir DIR --clients CLIENTS.tsv \
                  --oracle ORACLE.jsonl --tshark-version V --npm-version V --out OUTDIR
  expect.py check --new NEWDIR --old OLDDIR
  expect.py selftest

build reads tshark's PDML of the whole capture (decrypted with the key log), the
connection list and raw files written by goldencap, the client list written by the
script, and the JSON lines of scripts/oracle/ja4.js; it writes one txtar per client.
JA3 comes from tshark's own fields; JA4 (hash) from read-tls-client-hello; everything
else is built here from tshark's decoded fields. It exits non-zero when a cross-check
fails: tshark's ja3_full differs from the JA3 string built here, the npm JA3 differs
from tshark's, or the npm JA4 differs from the JA4 built here.

check compares the expect-* sections of two golden directories key by key, for the
clients whose recorded version is the same.
"""

import argparse
import hashlib
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

# ---------------------------------------------------------------------------
# Common terms (spec "Common terms")


def is_grease(v):
    """RFC 8701 GREASE: both bytes equal and each byte's low nibble 0xa."""
    return (v >> 8) == (v & 0xFF) and (v & 0x0F) == 0x0A


def sha12(s):
    return hashlib.sha256(s.encode("utf-8")).hexdigest()[:12]


def md5hex(s):
    return hashlib.md5(s.encode("utf-8")).hexdigest()


def hex4(v):
    return "%04x" % v


def two(n):
    return "%02d" % min(n, 99)


# ---------------------------------------------------------------------------
# PDML reading


def fval(f):
    """Integer of a field from its raw bytes (the value attribute), else from show."""
    v = f.get("value")
    if v:
        return int(v, 16)
    s = f.get("show", "")
    return int(s, 16) if s.startswith("0x") else int(s)


def fbytes(f):
    v = f.get("value")
    if v is not None:
        return bytes.fromhex(v)
    return f.get("show", "").encode("latin-1", "replace")


def children(el, name):
    return [c for c in el if c.get("name") == name]


def child(el, name):
    for c in el:
        if c.get("name") == name:
            return c
    return None


def descendants(el, name):
    return [c for c in el.iter("field") if c.get("name") == name]


def packet_fields(pkt):
    out = {}
    for proto in pkt:
        for f in proto:
            n = f.get("name")
            if n in ("tcp.srcport", "tcp.dstport", "tcp.stream", "frame.number"):
                out[n] = int(f.get("show"))
    return out


def parse_hello(hs):
    """The ClientHello fields of one tls.handshake element, in wire order."""
    h = {
        "version": fval(child(hs, "tls.handshake.version")),
        "random": fbytes(child(hs, "tls.handshake.random")),
        "ciphers": [fval(f) for f in descendants(hs, "tls.handshake.ciphersuite")],
        "extensions": [],
        "sni": None,
        "groups": None,
        "point_formats": None,
        "sigalgs": None,
        "alpn": None,
        "versions": None,
        "psk_modes": None,
        "cert_compression": None,
        "ja3_full": None,
        "ja3": None,
    }
    for f in hs:
        n = f.get("name")
        if n == "tls.handshake.ja3_full":
            h["ja3_full"] = f.get("show")
        elif n == "tls.handshake.ja3":
            h["ja3"] = f.get("show")
        t = child(f, "tls.handshake.extension.type")
        if t is None:
            continue
        et = fval(t)
        h["extensions"].append(et)
        if is_grease(et):
            continue
        if et == 0:
            names = [fbytes(x).decode("latin-1") for x in descendants(f, "tls.handshake.extensions_server_name")]
            h["sni"] = names[0] if names else ""
        elif et == 10:
            h["groups"] = [fval(x) for x in descendants(f, "tls.handshake.extensions_supported_group")]
        elif et == 11:
            h["point_formats"] = [fval(x) for x in descendants(f, "tls.handshake.extensions_ec_point_format")]
        elif et == 13:
            h["sigalgs"] = [fval(x) for x in descendants(f, "tls.handshake.sig_hash_alg")]
        elif et == 16:
            h["alpn"] = [fbytes(x) for x in descendants(f, "tls.handshake.extensions_alpn_str")]
        elif et == 43:
            h["versions"] = [fval(x) for x in descendants(f, "tls.handshake.extensions.supported_version")]
        elif et == 45:
            h["psk_modes"] = [fval(x) for x in descendants(f, "tls.extension.psk_ke_mode")]
        elif et == 27:
            h["cert_compression"] = [fval(x) for x in descendants(f, "tls.compress_certificate.algorithm")]
    return h


def parse_h2_frame(fr):
    """One client HTTP/2 frame (an http2.stream element)."""
    t = child(fr, "http2.type")
    if t is None:
        return {"type": "magic"} if child(fr, "http2.magic") is not None else None
    d = {
        "type": int(t.get("show")),
        "stream": int(child(fr, "http2.streamid").get("show")),
        "flags": fval(child(fr, "http2.flags")),
    }
    if d["type"] == 4:
        d["settings"] = []
        for s in children(fr, "http2.settings"):
            kids = list(s)
            sid = fval(kids[0])
            val = int(kids[1].get("value"), 16) if len(kids) > 1 and kids[1].get("value") else int(kids[1].get("show"))
            d["settings"].append((sid, val))
    elif d["type"] == 8:
        d["increment"] = int(child(fr, "http2.window_update.window_size_increment").get("show"))
    elif d["type"] in (1, 2, 9):
        ex = child(fr, "http2.exclusive")
        dep = child(fr, "http2.stream_dependency")
        w = child(fr, "http2.headers.weight")
        if ex is not None and dep is not None and w is not None:
            d["priority"] = (
                1 if ex.get("show") in ("1", "True", "true") else 0,
                int(dep.get("show")),
                int(w.get("show")) + 1,  # spec: weight = wire byte + 1
            )
        d["headers"] = []
        for hf in children(fr, "http2.header"):
            nm, vl = child(hf, "http2.header.name"), child(hf, "http2.header.value")
            if nm is None:
                continue
            d["headers"].append((fbytes(nm).decode("utf-8", "replace"), fbytes(vl).decode("utf-8", "replace") if vl is not None else ""))
    return d


def parse_http1(h):
    """One HTTP/1 request (an http element with a request line)."""
    m = descendants(h, "http.request.method")
    if not m:
        return None
    lines = []
    for f in descendants(h, "http.request.line"):
        lines.append(fbytes(f).decode("latin-1").rstrip("\r\n"))
    return {
        "method": m[0].get("show"),
        "uri": descendants(h, "http.request.uri")[0].get("show"),
        "version": descendants(h, "http.request.version")[0].get("show"),
        "lines": lines,
        "cookie_pairs": [f.get("show") for f in descendants(h, "http.cookie_pair")],
    }


def read_pdml(path, server_port):
    """Per TCP connection (tcp.stream): client port, first ClientHello, HTTP/1 requests,
    client HTTP/2 frames. Keyed by (client port, k): the k-th connection from that port,
    since the kernel reuses ephemeral ports within one capture."""
    streams = {}
    for _, pkt in ET.iterparse(path, events=("end",)):
        if pkt.tag != "packet":
            continue
        pf = packet_fields(pkt)
        if pf.get("tcp.dstport") != server_port:
            pkt.clear()
            continue
        port = pf["tcp.srcport"]
        c = streams.setdefault(pf["tcp.stream"], {"tcp_stream": pf["tcp.stream"], "port": port, "hello": None,
                                                  "hello_frame": None, "http1": [], "h2": []})
        for proto in pkt:
            pname = proto.get("name")
            if pname == "tls" and c["hello"] is None:
                for hs in descendants(proto, "tls.handshake"):
                    t = child(hs, "tls.handshake.type")
                    if t is not None and int(t.get("show")) == 1:
                        c["hello"] = parse_hello(hs)
                        c["hello_frame"] = pf["frame.number"]
                        break
            elif pname == "http":
                r = parse_http1(proto)
                if r:
                    c["http1"].append(r)
            elif pname == "http2":
                for fr in children(proto, "http2.stream"):
                    d = parse_h2_frame(fr)
                    if d:
                        c["h2"].append(d)
        pkt.clear()
    conns, seen = {}, {}
    for sid in sorted(streams):
        c = streams[sid]
        k = seen.get(c["port"], 0)
        seen[c["port"]] = k + 1
        conns[(c["port"], k)] = c
    return conns


# ---------------------------------------------------------------------------
# JA3 / JA3N (spec "JA3 and JA3N")


def ja3_string(h, sort_ext=False):
    exts = [e for e in h["extensions"] if not is_grease(e)]
    if sort_ext:
        exts = sorted(exts)
    return ",".join([
        str(h["version"]),
        "-".join(str(c) for c in h["ciphers"] if not is_grease(c)),
        "-".join(str(e) for e in exts),
        "-".join(str(g) for g in (h["groups"] or []) if not is_grease(g)),
        "-".join(str(p) for p in (h["point_formats"] or [])),
    ])


# ---------------------------------------------------------------------------
# JA4 (spec "JA4")

JA4_VERSIONS = {0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3",
                0x0002: "s2", 0xFEFF: "d1", 0xFEFD: "d2", 0xFEFC: "d3"}


def ja4_alpn(h):
    protos = h["alpn"]
    if not protos or len(protos[0]) == 0:
        return "00"
    p = protos[0]
    first, last = p[0], p[-1]  # a one-character protocol gives the character twice

    def ch(b):
        return chr(b) if 0x20 <= b <= 0x7E else "9"

    return ch(first) + ch(last)


def ja4_all(h):
    """JA4, JA4_r, JA4_o, JA4_ro of one hello (proto t: TLS over TCP)."""
    if h["versions"]:
        vs = [v for v in h["versions"] if not is_grease(v)]
        ver = max(vs) if vs else h["version"]
    else:
        ver = h["version"]
    ciphers = [c for c in h["ciphers"] if not is_grease(c)]
    exts = [e for e in h["extensions"] if not is_grease(e)]
    sni = "d" if 0 in exts else "i"
    a = "t" + JA4_VERSIONS.get(ver, "00") + sni + two(len(ciphers)) + two(len(exts)) + ja4_alpn(h)

    ciph_sorted = ",".join(sorted(hex4(c) for c in ciphers))
    ciph_wire = ",".join(hex4(c) for c in ciphers)
    ext_sorted = ",".join(sorted(hex4(e) for e in exts if e not in (0, 16)))
    ext_wire = ",".join(hex4(e) for e in exts)
    sig = ""
    if h["sigalgs"] is not None:  # extension 13 present: "_" and its values in wire order
        sig = "_" + ",".join(hex4(s) for s in h["sigalgs"] if not is_grease(s))

    zero = "000000000000"
    b = sha12(ciph_sorted) if ciphers else zero
    bo = sha12(ciph_wire) if ciphers else zero
    empty_c = ext_sorted == ""  # c of JA4 and JA4_o when the sorted list is empty
    c = zero if empty_c else sha12(ext_sorted + sig)
    co = zero if empty_c else sha12(ext_wire + sig)
    return {
        "ja4": f"{a}_{b}_{c}",
        "ja4_r": f"{a}_{ciph_sorted}_{ext_sorted}{sig}",
        "ja4_o": f"{a}_{bo}_{co}",
        "ja4_ro": f"{a}_{ciph_wire}_{ext_wire}{sig}",
    }


# ---------------------------------------------------------------------------
# PeetPrint (spec "PeetPrint")


def peet_g(v, six969=False):
    if is_grease(v) or (six969 and v == 6969):
        return "GREASE"
    return str(v)


def peetprint(h):
    alpn_map = {b"http/1.0": "1.0", b"http/1.1": "1.1", b"h2": "2"}
    exts = h["extensions"]
    plain = sorted((str(e) for e in exts if not is_grease(e)))  # sorted as strings
    greases = ["GREASE" for e in exts if is_grease(e)]
    fields = [
        "-".join(peet_g(v) for v in (h["versions"] or [])),
        "-".join(alpn_map[p] for p in (h["alpn"] or []) if p in alpn_map),
        "-".join(peet_g(v, six969=True) for v in (h["groups"] or [])),
        "-".join(str(v) for v in (h["sigalgs"] or [])),
        str(h["psk_modes"][0]) if h["psk_modes"] else "0",
        "-".join(str(v) for v in (h["cert_compression"] or [])),
        "-".join(peet_g(c) for c in h["ciphers"]),
        "-".join(plain + greases),
    ]
    return "|".join(fields)


# ---------------------------------------------------------------------------
# JA4H (spec "JA4H")


def ja4h(method, version, headers):
    """headers: (name, value) in wire order, pseudo-headers included (they are dropped)."""
    names = [n for n, _ in headers if not n.startswith(":")]
    cookie_vals = [v for n, v in headers if n.lower() == "cookie"]
    has_cookie = any(n.lower() == "cookie" for n in names)
    has_referer = any("referer" in n.lower() for n in names)
    kept = [n for n in names if not n.lower().startswith("cookie") and n.lower() != "referer"]
    lang = "0000"
    for n, v in headers:
        if n.lower() == "accept-language":
            first = v.replace("-", "").replace(";", ",").lower().split(",")[0]
            lang = first[:4].ljust(4, "0")
            break
    a = method.lower()[:2] + version + ("c" if has_cookie else "n") + ("r" if has_referer else "n") + two(len(kept)) + lang
    b_raw = ",".join(kept)
    b = sha12(b_raw)
    pairs = []
    for cv in cookie_vals:
        for piece in cv.split(";"):
            piece = piece.strip()
            if piece:
                pairs.append(piece)
    cnames = [p.split("=", 1)[0] for p in pairs]
    srt = sorted(range(len(pairs)), key=lambda i: cnames[i].encode("utf-8"))  # stable by name
    sn = [cnames[i] for i in srt]
    sp = [pairs[i] for i in srt]
    zero = "000000000000"
    if pairs:
        c, d = sha12(",".join(sn)), sha12(",".join(sp))
        r = f"{a}_{b_raw}_{','.join(sn)}_{','.join(sp)}"
        ro = f"{a}_{b_raw}_{','.join(cnames)}_{','.join(pairs)}"
    else:
        c = d = zero
        r = ro = f"{a}_{b_raw}_"
    return {"ja4h": f"{a}_{b}_{c}_{d}", "ja4h_r": r, "ja4h_ro": ro}


def h1_requests(conn):
    out = []
    for r in conn["http1"]:
        headers = []
        for line in r["lines"]:
            if ":" in line:
                n, v = line.split(":", 1)
                headers.append((n, v.strip()))
        ver = r["version"].split("/")[-1]  # HTTP/1.1 -> 1.1
        out.append({
            "method": r["method"], "path": r["uri"], "http_version": ver,
            "fp": ja4h(r["method"], ver.replace(".", ""), headers),
            "tshark": r,
        })
    return out


def h2_requests(conn):
    """Requests of the client's HTTP/2 frames: HEADERS per stream, in stream order."""
    streams = {}
    order = []
    for fr in conn["h2"]:
        if fr.get("type") == 1 and fr["stream"] not in streams:
            streams[fr["stream"]] = list(fr["headers"])
            order.append(fr["stream"])
        elif fr.get("type") == 9 and fr["stream"] in streams and fr.get("headers"):
            streams[fr["stream"]].extend(fr["headers"])
    out = []
    for sid in order:
        hs = streams[sid]
        pseudo = dict((n, v) for n, v in hs if n.startswith(":"))
        if ":method" not in pseudo:
            continue
        out.append({
            "method": pseudo[":method"], "path": pseudo.get(":path", ""), "http_version": "2",
            "fp": ja4h(pseudo[":method"], "20", hs), "stream": sid, "headers": hs,
        })
    return out


# ---------------------------------------------------------------------------
# Akamai HTTP/2 (spec "Akamai HTTP/2 fingerprint")


def akamai(conn):
    frames = [f for f in conn["h2"] if f.get("type") != "magic"]
    settings = next((f for f in frames if f["type"] == 4 and not f["flags"] & 1), None)
    if settings is None:
        return None, {}
    s = ";".join(f"{i}:{v}" for i, v in settings["settings"])
    wu, prio, ps = "00", [], ""
    seen_wu = False
    for f in frames:
        if f["type"] == 1:
            letters = {":method": "m", ":authority": "a", ":scheme": "s", ":path": "p"}
            ps = ",".join(letters[n] for n, _ in f["headers"] if n in letters)
            break
        if f["type"] == 8 and f["stream"] == 0 and not seen_wu:
            wu, seen_wu = str(f["increment"]), True
        if f["type"] == 2 and "priority" in f:
            ex, dep, w = f["priority"]
            prio.append(f"{f['stream']}:{ex}:{dep}:{w}")
    fp = f"{s}|{wu}|{','.join(prio) if prio else '0'}|{ps}"
    return fp, {"settings": settings["settings"], "window_update": wu, "priority": prio}


# ---------------------------------------------------------------------------
# txtar


def hexlines(b):
    h = b.hex()
    return "".join(h[i:i + 64] + "\n" for i in range(0, len(h), 64))


def safe_comment(line):
    """A comment line that cannot be read as a txtar file marker."""
    line = "".join(ch if (" " <= ch <= "~") else "\\x%02x" % ord(ch) if ord(ch) < 256 else ch for ch in line)
    if line.startswith("-- ") and line.endswith(" --"):
        line = " " + line
    return line


def parse_txtar(text):
    comment, files, cur = [], {}, None
    for line in text.splitlines(keepends=True):
        m = re.match(r"^-- (.+) --\n?$", line)
        if m:
            cur = m.group(1)
            files[cur] = ""
        elif cur is None:
            comment.append(line)
        else:
            files[cur] += line
    return "".join(comment), files


def parse_kv(text):
    out = {}
    for line in text.splitlines():
        if not line:
            continue
        k, _, v = line.partition(" ")
        out[k] = v
    return out


# ---------------------------------------------------------------------------
# build


def load_conns(path):
    """conns.txt: 'N PORT accept - - -' then 'N PORT ALPN VERSION CIPHER STATUS'.
    Each connection gets key = (port, k), k counting earlier connections from that port
    in accept order, to match read_pdml's keys."""
    out = {}
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) < 6:
                continue
            n, port = int(p[0]), int(p[1])
            c = out.setdefault(n, {"n": n, "port": port, "alpn": None, "status": "no-handshake-end"})
            if p[2] != "accept":
                c["alpn"] = None if p[2] == "-" else p[2]
                c["version"], c["cipher"], c["status"] = p[3], p[4], p[5]
    seen = {}
    for n in sorted(out):
        c = out[n]
        c["key"] = (c["port"], seen.get(c["port"], 0))
        seen[c["port"]] = c["key"][1] + 1
    return out


def load_clients(path):
    out = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            stem, version, first, last, unstable, desc, cmd, pick = line.split("\t")
            out.append({"stem": stem, "version": version, "first": int(first), "last": int(last),
                        "unstable": [] if unstable == "-" else unstable.split("|")[0].split(","),
                        "unstable_why": [] if unstable == "-" else [unstable.split("|", 1)[1]],
                        "desc": desc, "cmd": cmd,
                        "pick": pick})
    return out


def fmt_list(vals, f=hex4):
    return ",".join(f(v) for v in vals) if vals is not None else "(absent)"


class Failure(Exception):
    pass


def build_one(cl, conns, pdml, capdir, oracle, args):
    cands = [conns[n] for n in range(cl["first"], cl["last"] + 1) if n in conns]
    if not cands:
        raise Failure(f"{cl['stem']}: no connection recorded")
    chosen = None
    if cl["pick"] == "last":
        chosen, note_choice = cands[-1], "the client's last"
    else:
        for c in cands:
            pc = pdml.get(c["key"])
            if pc and (pc["http1"] or h2_requests(pc)):
                chosen = c
                break
        note_choice = "first that carried an HTTP request"
        if chosen is None:
            chosen, note_choice = cands[0], "first (none carried an HTTP request)"
    pc = pdml.get(chosen["key"])
    if pc is None or pc["hello"] is None:
        raise Failure(f"{cl['stem']}: tshark decoded no ClientHello for client port {chosen['port']}")
    h = pc["hello"]
    raw = open(os.path.join(capdir, f"conn-{chosen['n']}.hello.bin"), "rb").read()
    stream_path = os.path.join(capdir, f"conn-{chosen['n']}.stream.bin")
    stream = open(stream_path, "rb").read() if os.path.exists(stream_path) else b""
    # The raw file and tshark's hello must be the same message: compare the client random
    # (record header 5 + handshake header 4 + legacy_version 2 = offset 11).
    if raw[11:43] != h["random"]:
        raise Failure(f"{cl['stem']}: conn-{chosen['n']}.hello.bin is not the hello tshark decoded for "
                      f"tcp.stream {pc['tcp_stream']} (client random differs)")
    orc = oracle.get(f"conn-{chosen['n']}.hello.bin")
    if orc is None or "error" in orc:
        raise Failure(f"{cl['stem']}: read-tls-client-hello failed: {orc}")

    # JA3 from tshark; cross-checked against the string built here and the npm hash.
    ja3_mine = ja3_string(h)
    if h["ja3_full"] != ja3_mine:
        raise Failure(f"{cl['stem']}: tshark ja3_full {h['ja3_full']!r} != built {ja3_mine!r}")
    if md5hex(h["ja3_full"]) != h["ja3"]:
        raise Failure(f"{cl['stem']}: tshark ja3 is not md5 of ja3_full")
    if orc["ja3_hash"] != h["ja3"]:
        raise Failure(f"{cl['stem']}: read-tls-client-hello JA3 {orc['ja3_hash']} != tshark {h['ja3']}")
    ja3n = ja3_string(h, sort_ext=True)
    j4 = ja4_all(h)
    if orc["ja4"] != j4["ja4"]:
        raise Failure(f"{cl['stem']}: read-tls-client-hello JA4 {orc['ja4']} != expect.py JA4 {j4['ja4']} "
                      f"(from JA4_r {j4['ja4_r']})")
    pp = peetprint(h)

    sni = h["sni"] if h["sni"] is not None else ""
    alpn = ",".join(p.decode("latin-1") for p in (h["alpn"] or []))
    T, R, E = "tshark", "read-tls-client-hello", "expect.py-from-tshark"
    tls_kv = [
        ("sni", sni, E), ("alpn", alpn, E),
        ("ja3", h["ja3_full"], T), ("ja3_hash", h["ja3"], T),
        ("ja3n", ja3n, E), ("ja3n_hash", md5hex(ja3n), E),
        ("ja4", orc["ja4"], R), ("ja4_r", j4["ja4_r"], E), ("ja4_o", j4["ja4_o"], E), ("ja4_ro", j4["ja4_ro"], E),
        ("peetprint", pp, E), ("peetprint_hash", md5hex(pp), E),
    ]
    expect_tls = "".join(f"{k} {v}\n" for k, v, _ in tls_kv) + "".join(f"source {k} {s}\n" for k, _, s in tls_kv)

    # HTTP
    is_h2 = chosen["alpn"] == "h2"
    reqs = h2_requests(pc) if is_h2 else h1_requests(pc)
    http_kv, http_notes = [], []
    for i, r in enumerate(reqs, 1):
        http_kv += [(f"req{i}.method", r["method"]), (f"req{i}.path", r["path"]),
                    (f"req{i}.http_version", r["http_version"]),
                    (f"req{i}.ja4h", r["fp"]["ja4h"]), (f"req{i}.ja4h_r", r["fp"]["ja4h_r"]),
                    (f"req{i}.ja4h_ro", r["fp"]["ja4h_ro"])]
        if is_h2:
            http_notes.append(f"  request {i}: HTTP/2 stream {r['stream']}, http2.header.name/value in order:")
            http_notes += [f"    {n}: {v}" for n, v in r["headers"]]
        else:
            t = r["tshark"]
            http_notes.append(f"  request {i}: http.request.method {t['method']}, http.request.uri {t['uri']}, "
                              f"http.request.version {t['version']}; http.request.line in order:")
            http_notes += [f"    {ln}" for ln in t["lines"]]
            if t["cookie_pairs"]:
                http_notes.append(f"    http.cookie_pair: {' | '.join(t['cookie_pairs'])}")
    if is_h2 and reqs:
        ak, parts = akamai(pc)
        if ak:
            http_kv += [("akamai", ak), ("akamai_hash", md5hex(ak))]
            http_notes.append("  first client SETTINGS (http2.settings.id:value): "
                              + ";".join(f"{i}:{v}" for i, v in parts["settings"]))
            http_notes.append(f"  first WINDOW_UPDATE on stream 0 before HEADERS (increment): {parts['window_update']}")
            http_notes.append("  PRIORITY frames before HEADERS (stream:exclusive:dependency:weight_real): "
                              + (",".join(parts["priority"]) or "none"))

    # comment
    records = orc.get("records")
    cm = [
        f"client: {cl['desc']}",
        f"version: {cl['version']}",
        f"command: {cl['cmd']}",
        "  ($PORT: the capture server's port; $TMPD: the script's temp dir; $GOLDENCAP: go build ./scripts/goldencap)",
        "captured by: scripts/capture-goldens.sh (goldencap serve: Go crypto/tls server on 127.0.0.1,"
        " ALPN h2,http/1.1, TLS 1.0-1.3; tshark on lo decrypting with the server's key log)",
        f"tshark: {args.tshark_version}",
        f"read-tls-client-hello: {args.npm_version}",
        f"connection: {chosen['n'] - cl['first'] + 1} of {len(cands)} ({note_choice}); negotiated ALPN "
        f"{chosen['alpn'] or 'none'}, version {chosen.get('version', '-')}, cipher {chosen.get('cipher', '-')}, "
        f"handshake {chosen['status']}",
        f"hello: {len(raw)} bytes in {records} TLS record(s)",
    ]
    unstable, why = list(cl["unstable"]), list(cl["unstable_why"])
    if any(is_grease(v) for v in (h["sigalgs"] or [])):
        # PeetPrint prints signature algorithms as plain numbers, GREASE included.
        unstable += [k for k in ("peetprint", "peetprint_hash") if k not in unstable]
        why.append("signature_algorithms carries a random GREASE value, which PeetPrint prints as a number")
    if unstable:
        cm.append("unstable-keys: " + " ".join(unstable) + " (" + "; ".join(why) + ")")
    cm += [
        "",
        f"tshark-decoded ClientHello fields (pcap frame {pc['hello_frame']}, tcp.stream {pc['tcp_stream']}):",
        f"  tls.handshake.version: {hex4(h['version'])}",
        f"  tls.handshake.ciphersuite: {fmt_list(h['ciphers'])}",
        f"  tls.handshake.extension.type: {fmt_list(h['extensions'], str)}",
        f"  tls.handshake.extensions_server_name: {h['sni'] if h['sni'] is not None else '(absent)'}",
        f"  tls.handshake.extensions_supported_group: {fmt_list(h['groups'])}",
        f"  tls.handshake.extensions_ec_point_format: {fmt_list(h['point_formats'], str)}",
        f"  tls.handshake.sig_hash_alg (extension 13 only): {fmt_list(h['sigalgs'])}",
        "  tls.handshake.extensions_alpn_str: "
        + (",".join(p.decode('latin-1') for p in h["alpn"]) if h["alpn"] is not None else "(absent)"),
        f"  tls.handshake.extensions.supported_version: {fmt_list(h['versions'])}",
        f"  tls.extension.psk_ke_mode: {fmt_list(h['psk_modes'], str)}",
        f"  tls.compress_certificate.algorithm: {fmt_list(h['cert_compression'], str)}",
        f"  tls.handshake.ja3_full: {h['ja3_full']}",
        f"  tls.handshake.ja3: {h['ja3']}",
        f"read-tls-client-hello on hello.hex: ja3 {orc['ja3_hash']} (= tshark), ja4 {orc['ja4']}"
        " (= JA4 built here from the JA4_r lists)",
    ]
    if http_notes:
        cm += ["", "tshark-decoded HTTP fields (decrypted):"] + http_notes
    out = "".join(safe_comment(x) + "\n" for x in cm)
    out += "-- hello.hex --\n" + hexlines(raw)
    out += "-- expect-tls.txt --\n" + expect_tls
    if stream and reqs:
        out += f"-- {'http2' if is_h2 else 'http1'}.hex --\n" + hexlines(stream)
        out += "-- expect-http.txt --\n" + "".join(f"{k} {v}\n" for k, v in http_kv)
    special = describe(h, records, is_h2, reqs)
    return out, special


def describe(h, records, is_h2, reqs):
    s = []
    if any(is_grease(c) for c in h["ciphers"]) or any(is_grease(e) for e in h["extensions"]):
        s.append("GREASE")
    ver = max([v for v in (h["versions"] or []) if not is_grease(v)] or [h["version"]])
    s.append({0x0304: "TLS1.3", 0x0303: "TLS1.2-only", 0x0302: "TLS1.1", 0x0301: "TLS1.0"}.get(ver, hex4(ver)))
    if h["sni"] is None:
        s.append("no-SNI")
    if h["alpn"] is None:
        s.append("no-ALPN")
    if records and records > 1:
        s.append(f"{records}-records")
    if h["groups"] and any(g in (0x11EC, 0x6399, 0x639A) for g in h["groups"]):
        s.append("PQ-keyshare")
    if reqs:
        s.append(("h2" if is_h2 else "h1") + f"x{len(reqs)}")
        if any(r["fp"]["ja4h"].split("_")[3] != "000000000000" for r in reqs):
            s.append("cookies")
    return " ".join(s)


def cmd_build(args):
    conns = load_conns(os.path.join(args.capdir, "conns.txt"))
    clients = load_clients(args.clients)
    pdml = read_pdml(args.pdml, args.server_port)
    oracle = {}
    with open(args.oracle) as f:
        for line in f:
            o = json.loads(line)
            oracle[os.path.basename(o["file"])] = o
    os.makedirs(args.out, exist_ok=True)
    failed = 0
    for cl in clients:
        try:
            text, special = build_one(cl, conns, pdml, args.capdir, oracle, args)
        except Failure as e:
            print(f"expect.py: FAIL {e}", file=sys.stderr)
            failed += 1
            continue
        with open(os.path.join(args.out, cl["stem"] + ".txtar"), "w") as f:
            f.write(text)
        print(f"  {cl['stem']}.txtar: {special}")
    if failed:
        print(f"expect.py: {failed} client(s) FAILED the cross-checks (see above)", file=sys.stderr)
        return 1
    return 0


# ---------------------------------------------------------------------------
# check


def comment_field(comment, key):
    for line in comment.splitlines():
        if line.startswith(key + ": "):
            return line[len(key) + 2:]
    return None


def cmd_check(args):
    bad = ok = skipped = 0
    news = {f for f in os.listdir(args.new) if f.endswith(".txtar")}
    olds = {f for f in os.listdir(args.old) if f.endswith(".txtar")}
    for name in sorted(olds | news):
        if name not in news:
            print(f"  MISSING  {name}: not produced by this capture")
            skipped += 1
            continue
        if name not in olds:
            print(f"  NEW      {name}: no committed golden")
            skipped += 1
            continue
        oc, of = parse_txtar(open(os.path.join(args.old, name)).read())
        nc, nf = parse_txtar(open(os.path.join(args.new, name)).read())
        ov, nv = comment_field(oc, "version"), comment_field(nc, "version")
        if ov != nv:
            print(f"  SKIP     {name}: version {ov!r} -> {nv!r}")
            skipped += 1
            continue
        unstable = set()
        for c in (oc, nc):
            unstable |= set((comment_field(c, "unstable-keys") or "").split(" (")[0].split())
        diffs, soft = [], []
        for sec in ("expect-tls.txt", "expect-http.txt"):
            a, b = parse_kv(of.get(sec, "")), parse_kv(nf.get(sec, ""))
            for k in sorted(set(a) | set(b)):
                if a.get(k) == b.get(k):
                    continue
                line = f"{sec}:{k}: {a.get(k)!r} -> {b.get(k)!r}"
                (soft if k in unstable else diffs).append(line)
        if diffs:
            bad += 1
            print(f"  MISMATCH {name}")
            for d in diffs:
                print(f"      {d}")
        else:
            ok += 1
            extra = f" ({len(soft)} unstable key(s) differ, ignored)" if soft else ""
            print(f"  OK       {name}{extra}")
    print(f"check: {ok} match, {bad} mismatch, {skipped} skipped/missing/new")
    return 1 if bad else 0


def cmd_selftest(_args):
    """The public examples of the spec, so a slip in the rules above shows before a capture."""
    checks = []
    ja3 = {"version": 769, "ciphers": [47, 53, 5, 10, 49161, 49162, 49171, 49172, 50, 56, 19, 4],
           "extensions": [0, 10, 11], "groups": [23, 24, 25], "point_formats": [0]}
    checks.append(("JA3 example", md5hex(ja3_string(ja3)), "ada70206e40642a3e4461f35503241d5"))
    ciphers = "002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9"
    checks.append(("JA4 b example", sha12(ciphers), "8daaf6152771"))
    c = ("0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_"
         "0403,0804,0401,0503,0805,0501,0806,0601")
    checks.append(("JA4 c example", sha12(c), "e5627efa2ab1"))
    pp = ("GREASE-772-771-770-769|2-1.1|GREASE-29-23-24|1027-2052-1025-1283-2053-1281-2054-1537-513|1|2|"
          "GREASE-4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53-10|"
          "0-10-11-13-16-18-21-23-27-35-43-45-5-51-65281-GREASE-GREASE")
    checks.append(("PeetPrint example", md5hex(pp), "83a4e25726a3ba837aa2a9f1162b7063"))
    checks.append(("Akamai example", md5hex("1:65536;2:0;4:6291456;6:262144|15663105|0|m,a,s,p"),
                   "52d84b11737d980aef856699f885ca86"))
    checks.append(("GREASE 0x0a1a", str(is_grease(0x0A1A)), "False"))
    checks.append(("GREASE 0xfafa", str(is_grease(0xFAFA)), "True"))
    h = {"alpn": [b"a"]}
    checks.append(("one-character ALPN", ja4_alpn(h), "aa"))
    checks.append(("non-ASCII ALPN", ja4_alpn({"alpn": ["é".encode()]}), "99"))
    lang = ja4h("GET", "11", [("Accept-Language", "en-US,en;q=0.9")])["ja4h"].split("_")[0][-4:]
    checks.append(("JA4H lang", lang, "enus"))
    checks.append(("JA4H lang da", ja4h("GET", "11", [("Accept-Language", "da")])["ja4h"].split("_")[0][-4:], "da00"))
    checks.append(("JA4H no header", ja4h("GET", "11", [])["ja4h"].split("_")[1], "e3b0c44298fc"))
    sni_only = {"version": 0x0301, "ciphers": [0x002F], "extensions": [0], "versions": None,
                "sigalgs": None, "alpn": None}
    j = ja4_all(sni_only)
    checks.append(("JA4 SNI-only", j["ja4"], "t10d010100_" + sha12("002f") + "_000000000000"))
    checks.append(("JA4_o SNI-only", j["ja4_o"], "t10d010100_" + sha12("002f") + "_000000000000"))
    checks.append(("JA4_r SNI-only", j["ja4_r"], "t10d010100_002f_"))
    checks.append(("JA4_ro SNI-only", j["ja4_ro"], "t10d010100_002f_0000"))
    bad = [(n, got, want) for n, got, want in checks if got != want]
    for n, got, want in bad:
        print(f"expect.py selftest: {n}: got {got}, want {want}", file=sys.stderr)
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("--pdml", required=True)
    b.add_argument("--server-port", type=int, required=True)
    b.add_argument("--capdir", required=True)
    b.add_argument("--clients", required=True)
    b.add_argument("--oracle", required=True)
    b.add_argument("--tshark-version", required=True)
    b.add_argument("--npm-version", required=True)
    b.add_argument("--out", required=True)
    c = sub.add_parser("check")
    c.add_argument("--new", required=True)
    c.add_argument("--old", required=True)
    sub.add_parser("selftest")
    args = ap.parse_args()
    return {"build": cmd_build, "check": cmd_check, "selftest": cmd_selftest}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
