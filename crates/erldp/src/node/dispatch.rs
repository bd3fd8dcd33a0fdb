//! Where each control message goes: the incoming ones, which a
//! connection's reader hands over, and the ones our processes send, which
//! are delivered here when they are for our own node.

use std::sync::Arc;

use super::builtins::Builtin;
use super::NodeInner;
use super::LOG;
use crate::connection::{Connection, Dispatch};
use crate::dest::Dest;
use crate::message::{Message, MessageKind};
use crate::protocol::{requests, Control};
use crate::term::encode::tag;
use crate::term::{Atom, Pid, Ref, Term};
use crate::{Error, Result};

/// The size from which ETF that a program hands to
/// [`send_encoded_from`](NodeInner::send_encoded_from) is framed as it is
/// (see there).
const VERBATIM_MIN: usize = 64 << 10;

impl Dispatch for NodeInner {
    fn deliver(&self, conn: &Arc<Connection>, control: Control) {
        // Dispatch needs `Arc<Self>` for replies that may connect; the
        // connection holds the node alive for as long as it runs.
        let Some(this) = self.this() else { return };
        this.dispatch(conn, control);
    }

    fn connection_down(&self, conn: &Arc<Connection>, reason: &str) {
        let peer = conn.peer_name();
        self.forget_connection(peer, conn);
        log::info!(target: LOG, "connection to {peer} down: {reason}");
        if let Some(this) = self.this() {
            this.connection_ended(conn, reason);
            this.connection_gone(conn);
        }
    }
}

impl NodeInner {
    /// Takes in the end of `conn`, once: the links, monitors and requests of
    /// its peer fail. When a new connection replaces it that is at once, not
    /// when its reader notices, which may be running a handler
    /// (`ServeOptions::on_reader`) while the new connection already carries
    /// the peer's traffic, whose requests must not fail with it.
    pub(super) fn connection_ended(self: &Arc<Self>, conn: &Connection, reason: &str) {
        if conn.end(reason) {
            self.node_down(conn.peer_name(), reason);
        }
    }

    fn dispatch(self: &Arc<Self>, conn: &Arc<Connection>, control: Control) {
        if let Some(forged) = control
            .sender()
            .filter(|from| from.node != conn.peer_name())
        {
            conn.abort(&format!(
                "{} claims to come from a process of {}, not of the peer",
                control.kind(),
                forged.node
            ));
            return;
        }
        match control {
            Control::Send { from, to, message } => {
                self.deliver_local(to, Message::plain(from, message), conn.peer_name());
            }
            Control::RegSend { from, to, message } => {
                self.on_reg_send(from, to, message, conn.peer_name())
            }
            Control::AliasSend {
                from,
                alias,
                message,
            } => self.on_alias_send(from, alias, message),
            Control::Link { from, to } => self.on_link(conn, &control, from, to),
            Control::UnlinkId { id, from, to } => self.on_unlink_id(conn, id, from, to),
            Control::UnlinkIdAck { id, from, to } => self.on_unlink_id_ack(id, from, to),
            Control::Exit { from, to, reason } => self.on_exit(from, to, reason),
            Control::Exit2 { from, to, reason } => self.on_exit2(from, to, reason),
            Control::MonitorP {
                from,
                to,
                reference,
            } => self.on_monitor(conn, &control, from, to, reference),
            Control::DemonitorP {
                from,
                to,
                reference,
            } => self.on_demonitor(from, to, reference),
            Control::MonitorPExit {
                to,
                reference,
                reason,
                ..
            } => self.on_monitor_exit(conn, to, reference, reason),
            Control::SpawnRequest {
                req_id,
                from,
                module,
                function,
                args,
                opts,
                ..
            } => self.on_spawn_request(conn, req_id, from, module, function, args, &opts),
            Control::SpawnReply {
                req_id,
                flags,
                result,
                ..
            } => self.complete_spawn_reply(conn, req_id, flags, result),
            Control::Ignored => {}
        }
    }

    /// Sends `message` from our process `from` to `dest`, here or on
    /// another node (connecting to it first if need be).
    pub(super) fn send_from(self: &Arc<Self>, from: Pid, dest: &Dest, message: Term) -> Result<()> {
        if self.is_closed() {
            return Err(Error::Closed);
        }
        if let Dest::Global(name) = *dest {
            return self.send_global(from, name, message);
        }
        if dest.node() != self.name() {
            return self.send_control(dest.node(), &requests::send(from, dest, message)?);
        }
        match *dest {
            Dest::Pid(to) => {
                self.deliver_local(to, Message::plain(Some(from), message), self.name())
            }
            Dest::Name { name, .. } => self.on_reg_send(from, name, message, self.name()),
            Dest::Alias(alias) => self.on_alias_send(from, alias, message),
            Dest::Global(name) => return self.send_global(from, name, message),
        }
        Ok(())
    }

    /// [`send_from`](Self::send_from) with the message as ETF bytes.
    ///
    /// Bad bytes are an error, never garbage on the wire: they are decoded,
    /// or for a large message to another node checked by the same decoder
    /// without copying its binaries, and then framed as they are. A small
    /// message is decoded and sent as any other, so that its atoms go
    /// through the atom cache: framing `{seq, I, Bin}` as given measured
    /// worse, the BEAM spending more on atom lookups (41-51 ticks of CPU per
    /// 200,000 messages against 29-43) than the client saved. Above
    /// [`VERBATIM_MIN`] bytes the copies dominate instead.
    pub(super) fn send_encoded_from(
        self: &Arc<Self>,
        from: Pid,
        dest: &Dest,
        etf: &[u8],
    ) -> Result<()> {
        let remote = !matches!(dest, Dest::Global(_)) && dest.node() != self.name();
        // After a distribution header a payload has no version byte, which
        // a compressed term needs: that one is decoded and sent as a term.
        if remote && etf.len() >= VERBATIM_MIN && etf.get(1) != Some(&tag::COMPRESSED) {
            if self.is_closed() {
                return Err(Error::Closed);
            }
            crate::term::decode::validate(etf)?;
            // The control message's own payload is not written: `etf` is.
            let control = requests::send(from, dest, Term::nil())?;
            return self.connection(dest.node())?.send_etf(&control, etf);
        }
        self.send_from(from, dest, crate::term::decode(etf)?)
    }

    /// Delivers a message that the connection to `via` carried (or that our
    /// own node sent) to a process of ours.
    fn deliver_local(self: &Arc<Self>, to: Pid, message: Message, via: Atom) {
        if self.builtins.owns(to) {
            if message.kind == MessageKind::Message {
                self.on_builtin_pid(to, message.term, via);
            }
            return;
        }
        if let Some(process) = self.process(to) {
            process.inbox().push_via(message, via);
        }
    }

    /// Messages to a registered name of ours, from a peer (`via`) or from
    /// ourselves.
    fn on_reg_send(self: &Arc<Self>, from: Pid, name: Atom, message: Term, via: Atom) {
        // The registry refuses the built-in names: looking there first
        // spares the common case the comparisons.
        if let Some(process) = self.registry.whereis(name) {
            return process
                .inbox()
                .push_via(Message::plain(Some(from), message), via);
        }
        match Builtin::named(name) {
            Some(builtin) => self.on_builtin(builtin, message),
            None => log::debug!(target: LOG, "message to unregistered name {name} dropped"),
        }
    }

    /// Our aliases are the references of our calls: a message on one is a
    /// reply.
    fn on_alias_send(self: &Arc<Self>, from: Pid, alias: Ref, message: Term) {
        if !self.complete_alias_reply(alias, &message) {
            log::debug!(target: LOG, "message to unknown alias from {from:?} dropped");
        }
    }
}
