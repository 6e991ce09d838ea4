#!/usr/bin/env python3
"""Someone to talk to in the local demo: a user called `welcome` in the IRC channel
#welcome and in the XMPP MUC welcome@conference.localhost (which it creates), answering
every line said there. scripts/demo.sh runs it with the slixmpp venv's Python.

    demo-welcome.py --irc 127.0.0.1:16667 --xmpp 127.0.0.1:15222

Runs until killed. Plain text on loopback only, like the demo's servers.
"""

import argparse
import asyncio
import logging

import slixmpp

NICK = "welcome"
CHANNEL = "#welcome"
MUC = "welcome@conference.localhost"


def answer(who, text):
    return f"Hello {who}! I heard: {text}"


async def irc_user(host, port):
    """A plain IRC client; reconnects when the server goes away."""
    while True:
        try:
            reader, writer = await asyncio.open_connection(host, port)
            send = lambda line: writer.write((line + "\r\n").encode())
            send(f"NICK {NICK}")
            send(f"USER {NICK} 0 * :the demo's welcome user")
            while line := (await reader.readline()).decode(errors="replace").rstrip("\r\n"):
                prefix, _, rest = line.partition(" ") if line.startswith(":") else ("", "", line)
                verb, _, params = rest.partition(" ")
                if verb == "PING":
                    send(f"PONG {params}")
                elif verb == "001":
                    send(f"JOIN {CHANNEL}")
                elif verb == "PRIVMSG":
                    target, _, text = params.partition(" :")
                    who = prefix[1:].split("!")[0]
                    if target.lower() == CHANNEL and who != NICK and not text.startswith("\x01"):
                        # One line, whatever came in: no CR/LF can reach the server.
                        reply = answer(who, text).replace("\r", " ").replace("\n", " ")[:400]
                        send(f"PRIVMSG {CHANNEL} :{reply}")
                await writer.drain()
        except OSError as e:
            logging.warning("IRC: %s", e)
        await asyncio.sleep(3)


class XmppUser(slixmpp.ClientXMPP):
    def __init__(self, domain):
        super().__init__(f"{NICK}@{domain}", "welcome-demo-password")
        self.enable_plaintext = True
        self.enable_starttls = False
        self.enable_direct_tls = False
        self.plugin["feature_mechanisms"].unencrypted_plain = True
        for plugin in ("xep_0030", "xep_0045", "xep_0077", "xep_0199"):
            self.register_plugin(plugin)
        self.plugin["xep_0077"].force_registration = True
        self.add_event_handler("register", self.on_register)
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("groupchat_message", self.on_groupchat)
        self.add_event_handler("disconnected", self.on_disconnected)

    async def on_register(self, _event):
        form = self.Iq()
        form["type"] = "set"
        form["register"]["username"] = self.boundjid.user
        form["register"]["password"] = self.password
        try:
            await form.send()
        except (slixmpp.exceptions.IqError, slixmpp.exceptions.IqTimeout):
            pass  # already registered: the login decides

    async def on_start(self, _event):
        self.send_presence()
        await self.plugin["xep_0045"].join_muc_wait(MUC, NICK, maxstanzas=0)

    def on_groupchat(self, msg):
        who = msg["mucnick"]
        if who and who != NICK and msg["body"] and not msg["delay"]["stamp"]:
            self.send_message(mto=MUC, mbody=answer(who, msg["body"]), mtype="groupchat")

    def on_disconnected(self, _event):
        asyncio.get_event_loop().call_later(3, self.connect_again)

    def connect_again(self):
        self.connect(*self.server_address)


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--irc", required=True)
    parser.add_argument("--xmpp", required=True)
    parser.add_argument("--xmpp-domain", default="localhost")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    irc_host, irc_port = args.irc.rsplit(":", 1)
    xmpp_host, xmpp_port = args.xmpp.rsplit(":", 1)
    xmpp = XmppUser(args.xmpp_domain)
    xmpp.server_address = (xmpp_host, int(xmpp_port))
    xmpp.connect(*xmpp.server_address)
    await irc_user(irc_host, int(irc_port))


if __name__ == "__main__":
    asyncio.run(main())
