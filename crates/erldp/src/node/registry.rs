//! The processes of our node, by pid number and by registered name, as
//! `erlang:whereis/1` and `register/2` see them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::sync::RwLock;

use super::builtins::Builtin;
use super::signals::Process;
use super::NodeInner;
use crate::fast_map::FastMap;
use crate::protocol::identity::Identity;
use crate::protocol::ProcRef;
use crate::term::{Atom, Pid};
use crate::{Error, Result};

pub(super) struct Registry {
    processes: RwLock<FastMap<u32, Arc<Process>>>,
    names: RwLock<FastMap<Atom, Arc<Process>>>,
    /// Processes made, counting from the first number: its low 32 bits are
    /// the next number, and past 2^32 the numbers have come round; the high
    /// bits, how often, are the pid's serial.
    next_id: AtomicU64,
}

impl Registry {
    /// A registry holding `first` (the built-in processes); new processes
    /// get the numbers after theirs.
    pub(super) fn new(first: &[Arc<Process>]) -> Registry {
        let processes: FastMap<u32, Arc<Process>> = first
            .iter()
            .map(|process| (process.pid().id, Arc::clone(process)))
            .collect();
        let next_id = processes.keys().max().map_or(1, |id| id + 1);
        Registry {
            processes: RwLock::new(processes),
            names: RwLock::new(FastMap::default()),
            next_id: AtomicU64::new(u64::from(next_id)),
        }
    }

    /// The pid of the next new process. Once the numbers have come round (a
    /// peer's spawn requests make processes too), those still in use, the
    /// built-in processes' among them, are skipped, as BEAM reuses a process
    /// number only once its process is gone: a new process must never take
    /// a live one's place in the table. A reused number comes with a serial
    /// of its own, so that what is sent to the dead process of that number
    /// does not reach the new one.
    pub(super) fn next_pid(&self, identity: &Identity) -> Pid {
        loop {
            let made = self.next_id.fetch_add(1, Ordering::Relaxed);
            let id = made as u32;
            if made <= u64::from(u32::MAX) || (id != 0 && !self.processes.read().contains_key(&id))
            {
                return Pid {
                    serial: (made >> 32) as u32,
                    ..identity.pid(id)
                };
            }
        }
    }

    pub(super) fn add(&self, process: &Arc<Process>) {
        self.processes
            .write()
            .insert(process.pid().id, Arc::clone(process));
    }

    /// Takes `process` out of both tables.
    pub(super) fn remove(&self, process: &Arc<Process>) {
        self.unregister(process);
        self.processes.write().remove(&process.pid().id);
    }

    /// Takes `process`'s registered name away; its pid stays (a served name
    /// that stops lives on, nameless, until its running requests answer).
    pub(super) fn unregister(&self, process: &Arc<Process>) {
        if let Some(name) = process.take_name() {
            let mut names = self.names.write();
            if names.get(&name).is_some_and(|p| Arc::ptr_eq(p, process)) {
                names.remove(&name);
            }
        }
    }

    /// Registers `name` for `process`, which may have one name, like an
    /// Erlang process. The names of the built-in processes are taken.
    pub(super) fn register(&self, process: &Arc<Process>, name: &str) -> Result<()> {
        let atom = Atom::named(name, "registered name")?;
        if Builtin::named(atom).is_some() {
            return Err(Error::invalid(format!(
                "the name {name} is reserved by the node"
            )));
        }
        let mut names = self.names.write();
        if names.contains_key(&atom) {
            return Err(Error::NameTaken {
                name: name.to_string(),
                reason: "already registered by a process of this node".into(),
            });
        }
        process.set_name(atom)?;
        names.insert(atom, Arc::clone(process));
        Ok(())
    }

    pub(super) fn whereis(&self, name: Atom) -> Option<Arc<Process>> {
        self.names.read().get(&name).cloned()
    }

    /// The live process `pid` names, serial and all.
    pub(super) fn get(&self, pid: Pid) -> Option<Arc<Process>> {
        self.processes
            .read()
            .get(&pid.id)
            .filter(|process| process.pid() == pid)
            .cloned()
    }

    /// Every process, for news that concerns them all (a lost connection).
    pub(super) fn all(&self) -> Vec<Arc<Process>> {
        self.processes.read().values().cloned().collect()
    }

    /// Empties both tables: the node is closing.
    pub(super) fn drain(&self) -> Vec<Arc<Process>> {
        self.names.write().clear();
        self.processes
            .write()
            .drain()
            .map(|(_, process)| process)
            .collect()
    }
}

impl NodeInner {
    /// A new process, registered under `name` if given.
    pub(super) fn spawn_process(&self, name: Option<&str>) -> Result<Arc<Process>> {
        self.spawn_with(name, Process::new)
    }

    /// A new process that `make` makes for its pid, registered under `name`
    /// if given.
    pub(super) fn spawn_with(
        &self,
        name: Option<&str>,
        make: impl FnOnce(Pid) -> Arc<Process>,
    ) -> Result<Arc<Process>> {
        if self.is_closed() {
            return Err(Error::Closed);
        }
        let process = make(self.registry.next_pid(&self.identity));
        process.inbox().set_limit(self.mailbox_queue_limit);
        self.registry.add(&process);
        if let Some(name) = name {
            if let Err(err) = self.registry.register(&process, name) {
                self.registry.remove(&process);
                return Err(err);
            }
        }
        Ok(process)
    }

    /// The live process `pid` names, if it is ours.
    pub(super) fn process(&self, pid: Pid) -> Option<Arc<Process>> {
        if !self.identity.owns(pid) {
            return None;
        }
        self.registry.get(pid)
    }

    /// The process a pid or name stands for. The built-in names are
    /// answered by the process behind them, so that callers can monitor
    /// them as `gen:call` does.
    pub(super) fn resolve(&self, target: ProcRef) -> Option<Arc<Process>> {
        match target {
            ProcRef::Pid(pid) => self.process(pid),
            ProcRef::Name(name) => match Builtin::named(name) {
                Some(builtin) => self.builtins.process(builtin),
                None => self.registry.whereis(name),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_use_are_skipped_once_they_come_round_and_reused_ones_differ() {
        let identity = Identity::new(Atom::new("us@h"), 1);
        let registry =
            Registry::new(&[Process::new(identity.pid(1)), Process::new(identity.pid(2))]);
        let third = registry.next_pid(&identity);
        assert_eq!((third.id, third.serial), (3, 0));
        registry.add(&Process::new(third));
        let fourth = Process::new(registry.next_pid(&identity));
        registry.add(&fourth);
        registry.remove(&fourth);
        registry
            .next_id
            .store(u64::from(u32::MAX), Ordering::Relaxed);
        assert_eq!(registry.next_pid(&identity).id, u32::MAX);
        let reused = registry.next_pid(&identity);
        assert_eq!(
            (reused.id, reused.serial),
            (4, 1),
            "0 and the live 1, 2 and 3 skipped"
        );
        registry.add(&Process::new(reused));
        assert!(registry.get(reused).is_some());
        assert!(
            registry.get(fourth.pid()).is_none(),
            "the dead process of the same number is not the new one"
        );
    }
}
