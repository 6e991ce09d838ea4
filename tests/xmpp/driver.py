#!/usr/bin/env python3
"""Plays one XMPP user for the end-to-end tests, with slixmpp: a real client library, so
what the bridge sees is what a real XMPP client sends.

    driver.py --jid alice@localhost --password pw --server 127.0.0.1:15222 [--register]

Commands come as JSON lines on stdin; everything the user receives goes out as JSON lines
on stdout (and nothing else is printed there: slixmpp's own logging goes to stderr).

Commands (an optional "req" is echoed in the answer, to tell answers apart):
  {"op":"join","room":"r@conference.localhost","nick":"alice","history":0,"password":null}
      waits for the room's self-presence and subject: answers ok once joined.
  {"op":"leave","room":"r@conference.localhost","nick":"alice"}
  {"op":"send","to":"...","type":"groupchat"|"chat"|...,"body":"...","id":"...","subject":"..."}
      answers ok with the stanza id (generated when none was given).
  {"op":"presence","to":"...","type":"...","show":"...","status":"..."}   all fields optional
  {"op":"raw","xml":"<iq .../>"}   any stanza, for XEPs slixmpp lacks; answers come as events
  {"op":"disco_info","to":"...","node":"..."}   XEP-0030; answers ok with "node" (as answered),
      "features", and "ver": the XEP-0115 SHA-1 verification string of the answer, computed
      here from the identities and features
  {"op":"quit"}   (closing stdin does the same)

Output, one JSON object a line:
  {"event":"ready","jid":"alice@localhost/res","registered":true|false}   once online
  {"event":"message"|"presence"|"iq","from","to","type","id","body","subject","delayed","xml"}
      for every stanza received after ready ("delayed": it carries a XEP-0203 delay, e.g.
      room history), "body"/"subject" null when absent
  {"event":"ok","op":...,"req":...,"id":...} / {"event":"error","op":...,"req":...,"error":"..."}
  {"event":"failed","error":"..."} (could not log in; exits 1)
  {"event":"disconnected"} last: after quit or the end of stdin (exits 0), or when the server
      ended the stream first (exits 1)

--register registers the account in-band (XEP-0077) before logging in; an existing account
with that name is not an error (the login then decides).
"""

import argparse
import asyncio
import base64
import hashlib
import json
import logging
import sys

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout, PresenceError
from slixmpp.stanza import Iq, Message, Presence


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def caps_verification(identities, features):
    """XEP-0115 §5.1 with SHA-1, for answers without extended forms."""
    # slixmpp gives identities as (category, type, lang, name).
    idents = sorted(f"{c}/{t}/{lang or ''}/{name or ''}" for c, t, lang, name in identities)
    text = "".join(i + "<" for i in idents) + "".join(f + "<" for f in sorted(features))
    return base64.b64encode(hashlib.sha1(text.encode("utf-8")).digest()).decode()


class Driver(slixmpp.ClientXMPP):
    def __init__(self, jid, password, register):
        super().__init__(jid, password)
        # Loopback test server without TLS (scripts/start-prosody.sh).
        self.enable_plaintext = True
        self.enable_starttls = False
        self.enable_direct_tls = False
        self.plugin["feature_mechanisms"].unencrypted_plain = True
        for plugin in ("xep_0030", "xep_0045", "xep_0199", "xep_0203"):
            self.register_plugin(plugin)
        self.registered = False
        if register:
            self.register_plugin("xep_0077")
            self.plugin["xep_0077"].force_registration = True
            self.add_event_handler("register", self.on_register)
        self.online = asyncio.get_event_loop().create_future()
        self.add_event_handler("session_start", self.on_session_start)
        self.add_event_handler("failed_auth", lambda _: self.settle(False, "authentication failed"))
        self.add_event_handler("disconnected", self.on_disconnected)
        # slixmpp would retry a refused connection for ever; a test wants to know at once.
        self.add_event_handler("connection_failed", lambda e: self.settle(False, f"cannot connect: {e}"))
        # Incoming filters see every stanza before any handler (or plugin) may consume it.
        self.add_filter("in", self.report)
        self.gone = asyncio.get_event_loop().create_future()

    def settle(self, ok, error=None):
        if not self.online.done():
            self.online.set_result((ok, error))

    async def on_register(self, _form):
        iq = self.Iq()
        iq["type"] = "set"
        iq["register"]["username"] = self.boundjid.user
        iq["register"]["password"] = self.password
        try:
            await iq.send(timeout=15)
            self.registered = True
        except IqError as e:
            # conflict: the account exists already; the login that follows decides.
            if e.condition != "conflict":
                self.settle(False, f"in-band registration refused: {e.condition} {e.text}")
        except IqTimeout:
            self.settle(False, "in-band registration: no answer")

    async def on_session_start(self, _event):
        self.send_presence()
        try:
            await self.get_roster(timeout=15)
        except (IqError, IqTimeout):
            pass  # a roster is no condition for these tests
        # Printed here, not after main() resumes: "ready" must precede every reported
        # stanza, and a stanza may arrive before main() runs again.
        emit({"event": "ready", "jid": str(self.boundjid), "registered": self.registered})
        self.settle(True)

    def on_disconnected(self, _reason):
        self.settle(False, "disconnected before the session started")
        if not self.gone.done():
            self.gone.set_result(None)

    def report(self, stanza):
        if self.online.done() and isinstance(stanza, (Message, Presence, Iq)):
            kind = stanza.name
            body = subject = None
            if kind == "message":
                body = stanza["body"] if stanza.xml.find("{jabber:client}body") is not None else None
                subject = stanza["subject"] if stanza.xml.find("{jabber:client}subject") is not None else None
            emit(
                {
                    "event": kind,
                    "from": str(stanza["from"]),
                    "to": str(stanza["to"]),
                    "type": stanza.xml.get("type"),
                    "id": stanza.xml.get("id"),
                    "body": body,
                    "subject": subject,
                    "delayed": stanza.xml.find("{urn:xmpp:delay}delay") is not None,
                    "xml": str(stanza),
                }
            )
        return stanza

    async def run_command(self, cmd):
        op = cmd.get("op")
        answer = {"op": op}
        if "req" in cmd:
            answer["req"] = cmd["req"]
        try:
            if op == "join":
                await self.plugin["xep_0045"].join_muc_wait(
                    slixmpp.JID(cmd["room"]),
                    cmd["nick"],
                    password=cmd.get("password"),
                    maxstanzas=cmd.get("history", 0),
                    timeout=15,
                )
            elif op == "leave":
                self.plugin["xep_0045"].leave_muc(slixmpp.JID(cmd["room"]), cmd["nick"])
            elif op == "send":
                msg = self.make_message(
                    mto=cmd["to"], mbody=cmd.get("body"), msubject=cmd.get("subject"), mtype=cmd.get("type", "chat")
                )
                msg["id"] = cmd.get("id") or self.new_id()
                msg.send()
                answer["id"] = msg["id"]
            elif op == "presence":
                self.send_presence(
                    pto=cmd.get("to"), ptype=cmd.get("type"), pshow=cmd.get("show"), pstatus=cmd.get("status")
                )
            elif op == "raw":
                self.send_raw(cmd["xml"])
            elif op == "disco_info":
                info = await self.plugin["xep_0030"].get_info(jid=cmd["to"], node=cmd.get("node"), timeout=15)
                query = info["disco_info"]
                answer["node"] = query["node"]
                answer["features"] = sorted(query["features"])
                answer["ver"] = caps_verification(query["identities"], query["features"])
            elif op == "quit":
                return
            else:
                raise ValueError(f"unknown op {op!r}")
        except (KeyError, ValueError, PresenceError, IqError, IqTimeout, asyncio.TimeoutError) as e:
            detail = e.condition if isinstance(e, (PresenceError, IqError)) else repr(e)
            emit({"event": "error", **answer, "error": detail})
            return
        emit({"event": "ok", **answer})


async def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jid", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--server", required=True, help="HOST:PORT of the client port")
    ap.add_argument("--register", action="store_true", help="register the account in-band first")
    ap.add_argument("--debug", action="store_true", help="slixmpp's debug log on stderr")
    args = ap.parse_args()
    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG if args.debug else logging.WARNING)

    xmpp = Driver(args.jid, args.password, args.register)
    host, port = args.server.rsplit(":", 1)
    xmpp.connect(host, int(port))
    try:
        ok, error = await asyncio.wait_for(xmpp.online, 30)
    except asyncio.TimeoutError:
        ok, error = False, "not online within 30 s"
    if not ok:
        emit({"event": "failed", "error": error})
        sys.exit(1)

    loop = asyncio.get_event_loop()
    # Commands may carry large bodies (tests of oversized messages): room for 1 MiB lines.
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        next_line = asyncio.ensure_future(reader.readline())
        await asyncio.wait([next_line, xmpp.gone], return_when=asyncio.FIRST_COMPLETED)
        if not next_line.done():
            # The server ended the stream while the test still talks to us.
            next_line.cancel()
            emit({"event": "disconnected"})
            sys.exit(1)
        line = next_line.result().strip()
        if not line:
            if reader.at_eof():
                break
            continue
        try:
            cmd = json.loads(line)
        except json.JSONDecodeError as e:
            emit({"event": "error", "error": f"not JSON: {e}"})
            continue
        # One command after another: a join has completed before the next send goes out.
        await xmpp.run_command(cmd)
        if cmd.get("op") == "quit":
            break
    await xmpp.disconnect()
    emit({"event": "disconnected"})


if __name__ == "__main__":
    asyncio.run(main())
