#!/usr/bin/env bash
# Starts InspIRCd 3 (server irc.localhost) on 127.0.0.1:$IRC_PORT with Atheme services
# (services.localhost: NickServ, ChanServ, SaslServ with SASL PLAIN) linked to it on
# 127.0.0.1:$IRC_LINK_PORT. Each start begins from fresh configs and an empty services
# database. Ready means a client can register and NickServ answers it.
# Loopback test network only: no TLS, no flood or clone limits, no services rate limits.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

IRCD="$STACK_DIR/inspircd"
ATHEME="$STACK_DIR/atheme"
LINK_PASS="mxbridge-test-stack-link"
START=$SECONDS

ircd_pid=$(recorded_pid inspircd) || ircd_pid=""
atheme_pid=$(recorded_pid atheme) || atheme_pid=""
if [ -n "$ircd_pid" ] && [ -n "$atheme_pid" ]; then
  log "inspircd (pid $ircd_pid) and atheme (pid $atheme_pid) already running"
  exit 0
fi
# Half a network (one of the two died) is restarted whole: services keep state about the
# server they are linked to.
[ -n "$atheme_pid" ] && stop_pid "$atheme_pid" TERM atheme
[ -n "$ircd_pid" ] && stop_pid "$ircd_pid" TERM inspircd
rm -f "$STACK_DIR/inspircd.pid" "$STACK_DIR/atheme.pid"

for port in "$IRC_PORT" "$IRC_LINK_PORT"; do
  if port_in_use "$port"; then
    log "port $port is taken by another process: stop it, or set MXBRIDGE_IRC_PORT / MXBRIDGE_IRC_LINK_PORT"
    exit 1
  fi
done
command -v inspircd >/dev/null && command -v atheme-services >/dev/null ||
  { log "inspircd or atheme-services not installed: run scripts/install-deps.sh"; exit 1; }
MODDIR=/usr/lib/inspircd/modules
[ -d "$MODDIR" ] || { log "InspIRCd modules not found in $MODDIR"; exit 1; }

# Both daemons refuse to run as root; they run as Debian's `irc` user, who owns their dirs.
rm -rf "$IRCD" "$ATHEME"
mkdir -p "$IRCD/data" "$IRCD/log" "$ATHEME/data"
as_irc() { setpriv --reuid=irc --regid=irc --init-groups "$@"; }

# ---------------------------------------------------------------------------- InspIRCd
# Modules: the server link and services support, what Atheme's protocol module wants
# (user modes +d +I +k come from deaf, hidechans, servprotect; chghost, cban, svshold and
# topiclock enable vhosts, channel sqlines, nick enforcers and topic lock), and the IRCv3
# capabilities InspIRCd 3 ships (ircv3_sts is left out: there is no TLS here).
modules=(
  spanningtree services_account sasl cap
  deaf hidechans servprotect chghost cban svshold topiclock globops
  ircv3 ircv3_accounttag ircv3_batch ircv3_capnotify ircv3_chghost ircv3_ctctags
  ircv3_echomessage ircv3_invitenotify ircv3_labeledresponse ircv3_msgid ircv3_servertime
  namesx uhnames setname monitor
)
module_tags=""
for m in "${modules[@]}"; do
  if [ -f "$MODDIR/m_$m.so" ]; then
    module_tags+="<module name=\"$m\">"$'\n'
  elif [ "$m" = ircv3_labeledresponse ]; then
    log "InspIRCd module $m not installed: labeled-response is unavailable"
  else
    log "InspIRCd module $m not found in $MODDIR"; exit 1
  fi
done

printf 'mxbridge test IRC server: loopback only, no limits.\n' >"$IRCD/motd"
cat >"$IRCD/inspircd.conf" <<CONF
<server name="irc.localhost" description="mxbridge test IRC server" id="001" network="mxbridgetest">
<admin name="mxbridge tests" nick="admin" email="admin@example.org">
<path configdir="$IRCD" datadir="$IRCD/data" logdir="$IRCD/log" moduledir="$MODDIR">
<pid file="$IRCD/data/inspircd.pid">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="$IRCD/log/ircd.log">
<files motd="$IRCD/motd">

<bind address="127.0.0.1" port="$IRC_PORT" type="clients">
<bind address="127.0.0.1" port="$IRC_LINK_PORT" type="servers">

# Every test client (and every bridge puppet) comes from 127.0.0.1: no clone, flood or
# connection limits, no DNS or ident lookups, big queues, no fake lag.
<connect name="main" allow="*" timeout="60" pingfreq="120"
         localmax="100000" globalmax="100000" limit="100000" maxchans="10000"
         threshold="1000000" commandrate="100000000" fakelag="no"
         hardsendq="16777216" softsendq="1048576" recvq="1048576"
         resolvehostnames="no" useident="no">
<performance clonesonconnect="no" softlimit="100000" quietbursts="yes" somaxconn="1024" netbuffersize="65536">
<channels users="10000" opers="10000">
<limits maxnick="30" maxchan="64" maxmodes="20" maxident="10" maxhost="64" maxquit="255"
        maxtopic="307" maxkick="255" maxreal="128" maxaway="200">
<options prefixquit="" syntaxhints="no" announcets="yes" hostintopic="yes" pingwarning="15" splitwhois="no">
<security hideserver="" userstats="Pu" flatlinks="no" hidesplits="no" hideulines="no" hidebans="no" maxtargets="100">
<dns timeout="1">
<whowas groupsize="10" maxgroups="100000" maxkeep="3d">

$module_tags
# Atheme: the server link, the services server, and where SASL goes.
<link name="services.localhost" ipaddr="127.0.0.1" port="$IRC_LINK_PORT" allowmask="127.0.0.0/8"
      sendpass="$LINK_PASS" recvpass="$LINK_PASS" timeout="10">
<uline server="services.localhost" silent="yes">
<sasl target="services.localhost" requiressl="no">
<servprotect>

<badnick nick="ChanServ" reason="Reserved For Services">
<badnick nick="NickServ" reason="Reserved For Services">
<badnick nick="SaslServ" reason="Reserved For Services">
CONF
chown -R irc:irc "$IRCD"
if ! as_irc test -w "$IRCD/data"; then
  log "user irc cannot reach $IRCD: set MXBRIDGE_STACK_DIR to a directory it can reach (e.g. under /var/tmp)"
  exit 1
fi

# setpriv is started directly (not through a shell function) so that it execs into
# inspircd and $! is the server's own PID.
setpriv --reuid=irc --regid=irc --init-groups \
  inspircd --nofork --config "$IRCD/inspircd.conf" >"$STACK_DIR/inspircd.log" 2>&1 </dev/null &
ircd_pid=$!
record_pid inspircd "$ircd_pid"

show_logs() {
  tail -n 30 "$STACK_DIR/inspircd.log" "$IRCD/log/ircd.log" "$STACK_DIR/atheme.log" >&2 2>/dev/null || true
}
fail() {
  log "$1; end of the servers' logs:"
  show_logs
  [ -n "${atheme_pid:-}" ] && proc_running "$atheme_pid" && stop_pid "$atheme_pid" TERM atheme
  proc_running "$ircd_pid" && stop_pid "$ircd_pid" TERM inspircd
  rm -f "$STACK_DIR/inspircd.pid" "$STACK_DIR/atheme.pid"
  exit 1
}
wait_ready "$ircd_pid" 30 port_in_use "$IRC_LINK_PORT" || fail "inspircd did not start"

# ------------------------------------------------------------------------------ Atheme
# Atheme's own rate limits are off (flood_msgs, ratelimit_uses) and one email may hold any
# number of accounts (maxusers), so tests can register many nicks quickly. Email domains
# must be dotted (x@example.org); x@localhost is refused. auth = none: no email
# verification; mta = /bin/true: no mail ever leaves.
cat >"$ATHEME/atheme.conf" <<CONF
loadmodule "modules/protocol/inspircd";
loadmodule "modules/backend/opensex";
loadmodule "modules/crypto/pbkdf2v2";

loadmodule "modules/nickserv/main";
loadmodule "modules/nickserv/help";
loadmodule "modules/nickserv/register";
loadmodule "modules/nickserv/regnolimit";
loadmodule "modules/nickserv/identify";
loadmodule "modules/nickserv/logout";
loadmodule "modules/nickserv/info";
loadmodule "modules/nickserv/status";
loadmodule "modules/nickserv/ghost";
loadmodule "modules/nickserv/group";
loadmodule "modules/nickserv/drop";
loadmodule "modules/nickserv/set_core";
loadmodule "modules/nickserv/set_password";
loadmodule "modules/nickserv/set_email";
loadmodule "modules/nickserv/set_accountname";
loadmodule "modules/nickserv/set_hidemail";
loadmodule "modules/nickserv/set_enforcetime";

loadmodule "modules/chanserv/main";
loadmodule "modules/chanserv/help";
loadmodule "modules/chanserv/register";
loadmodule "modules/chanserv/info";
loadmodule "modules/chanserv/flags";
loadmodule "modules/chanserv/access";
loadmodule "modules/chanserv/op";
loadmodule "modules/chanserv/voice";
loadmodule "modules/chanserv/topic";
loadmodule "modules/chanserv/drop";
loadmodule "modules/chanserv/set_core";

loadmodule "modules/saslserv/main";
loadmodule "modules/saslserv/plain";

pbkdf2v2 {
	rounds = 10000;
};

serverinfo {
	name = "services.localhost";
	desc = "mxbridge test services";
	numeric = "00A";
	recontime = 1;
	netname = "mxbridgetest";
	hidehostsuffix = "users.mxbridgetest";
	adminname = "mxbridge tests";
	adminemail = "admin@example.org";
	registeremail = "noreply@example.org";
	mta = "/bin/true";
	loglevel = { error; info; admin; network; };
	maxlogins = 1000;
	maxusers = 1000000;
	mdlimit = 30;
	emaillimit = 1000000;
	emailtime = 1;
	auth = none;
	casemapping = rfc1459;
};

uplink "irc.localhost" {
	host = "127.0.0.1";
	port = $IRC_LINK_PORT;
	send_password = "$LINK_PASS";
	receive_password = "$LINK_PASS";
};

nickserv {
	nick = "NickServ";
	user = "NickServ";
	host = "services.localhost";
	real = "Nickname Services";
	maxnicks = 1000;
	expire = 0;
};

chanserv {
	nick = "ChanServ";
	user = "ChanServ";
	host = "services.localhost";
	real = "Channel Services";
	maxchans = 1000;
	expire = 0;
	templates {
		vop = "+AV";
		hop = "+AHehitrv";
		aop = "+AOehiortv";
		sop = "+AOaefhiorstv";
		founder = "+AFORaefhiorstv";
	};
};

saslserv {
	nick = "SaslServ";
	user = "SaslServ";
	host = "services.localhost";
	real = "SASL Authentication Agent";
};

logfile "$ATHEME/services.log" { error; info; admin; network; register; };

general {
	flood_msgs = 0;
	flood_time = 0;
	ratelimit_uses = 0;
	ratelimit_period = 0;
	kline_time = 7;
	commit_interval = 5;
	default_clone_allowed = 100000;
	default_clone_warn = 100000;
	uplink_sendq_limit = 16777216;
	language = "en";
	immune_level = immune;
};
CONF
chown -R irc:irc "$ATHEME"

# -n: stay in the foreground (logs go to stdout too). -D: our own data directory (the
# services database), -p: its pid file stays out of $STACK_DIR/*.pid, which is ours.
setpriv --reuid=irc --regid=irc --init-groups \
  atheme-services -n -c "$ATHEME/atheme.conf" -D "$ATHEME/data" -l "$ATHEME/atheme.log" \
  -p "$ATHEME/data/atheme.pid" >"$STACK_DIR/atheme.log" 2>&1 </dev/null &
atheme_pid=$!
record_pid atheme "$atheme_pid"

# One client session: register, ask NickServ for HELP, succeed on its NOTICE. A 401 (no
# such nick) means the services are not linked yet.
irc_probe() {
  local fd line nick="probe$RANDOM$RANDOM" ok=1 deadline=$((SECONDS + 10))
  exec {fd}<>"/dev/tcp/127.0.0.1/$IRC_PORT" || return 1
  printf 'NICK %s\r\nUSER probe 0 * :stack probe\r\n' "$nick" >&"$fd"
  while ((SECONDS < deadline)) && IFS= read -r -t 5 line <&"$fd"; do
    line=${line%$'\r'}
    case "$line" in
      PING*) printf 'PONG %s\r\n' "${line#PING }" >&"$fd" ;;
      *" 001 $nick "*) printf 'PRIVMSG NickServ :HELP\r\n' >&"$fd" ;;
      ":NickServ!"*" NOTICE $nick "*) ok=0; break ;;
      *" 401 $nick "* | ERROR*) break ;;
    esac
  done
  printf 'QUIT\r\n' >&"$fd" 2>/dev/null || true
  exec {fd}<&-
  return "$ok"
}
both_running() { proc_running "$ircd_pid" && proc_running "$atheme_pid"; }
# Linking takes well under a second here. An ERROR from InspIRCd (wrong name or password)
# would only repeat every second: it fails the start at once.
deadline=$((SECONDS + 30))
until grep -q "finished synching with uplink" "$STACK_DIR/atheme.log" 2>/dev/null; do
  both_running || fail "inspircd or atheme exited"
  ! grep -q "m_error(): error from server" "$STACK_DIR/atheme.log" 2>/dev/null || fail "inspircd refused atheme's link"
  ((SECONDS < deadline)) || fail "atheme did not link to inspircd within 30 s"
  sleep 0.1
done
until irc_probe; do
  both_running || fail "inspircd or atheme exited"
  ((SECONDS < deadline)) || fail "NickServ did not answer a client within 30 s"
  sleep 0.2
done
log "inspircd ready on 127.0.0.1:$IRC_PORT (pid $ircd_pid), atheme linked (pid $atheme_pid), in $((SECONDS - START)) s"
