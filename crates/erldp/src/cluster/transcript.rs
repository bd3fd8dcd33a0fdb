//! Terms of transcripts captured from real nodes, for the state machines' tests.
//!
//! The transcripts were taken by tracing `global_name_server`, its locker and `pg` on BEAM
//! nodes; pids and references there have no Erlang syntax, so they were printed as quoted
//! atoms naming them: `'<a:gns>'`, `'<b:locker>'`, `'<a.96>'` (a pid of node `a`),
//! `'#Ref3@a'` (a reference made on node `a`). [`Transcript::term`] parses such a line back,
//! turning each name into the same pid or reference every time it appears.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::term::{Atom, Pid, Ref, Term};

/// Node labels (`a`, `b`, ...) and the pids and references named so far.
pub(crate) struct Transcript {
    nodes: HashMap<String, Atom>,
    pids: RefCell<HashMap<String, Pid>>,
    refs: RefCell<HashMap<String, Ref>>,
}

impl Transcript {
    /// `nodes` maps the labels used in pid names to node names, e.g. `("a", "a_25@vm")`.
    pub(crate) fn new(nodes: &[(&str, &str)]) -> Transcript {
        Transcript {
            nodes: nodes
                .iter()
                .map(|&(label, node)| (label.to_string(), Atom::new(node)))
                .collect(),
            pids: RefCell::new(HashMap::new()),
            refs: RefCell::new(HashMap::new()),
        }
    }

    /// The node a label stands for.
    pub(crate) fn node(&self, label: &str) -> Atom {
        *self
            .nodes
            .get(label)
            .unwrap_or_else(|| panic!("no node labelled {label}"))
    }

    /// The pid named `<label:what>` or `<label.N>`.
    pub(crate) fn pid(&self, name: &str) -> Pid {
        let inner = name
            .strip_prefix('<')
            .and_then(|n| n.strip_suffix('>'))
            .unwrap_or_else(|| panic!("{name} is not a pid name"));
        let label = inner
            .split([':', '.'])
            .next()
            .expect("split yields a first part");
        let node = self.node(label);
        let mut pids = self.pids.borrow_mut();
        let next = u32::try_from(pids.len()).expect("few pids") + 100;
        *pids.entry(name.to_string()).or_insert(Pid {
            node,
            id: next,
            serial: 0,
            creation: 1,
        })
    }

    /// The reference named `#RefN@label`.
    pub(crate) fn reference(&self, name: &str) -> Ref {
        let (_, label) = name
            .split_once('@')
            .unwrap_or_else(|| panic!("{name} is not a reference name"));
        let node = self.node(label);
        let mut refs = self.refs.borrow_mut();
        let next = u32::try_from(refs.len()).expect("few refs") + 1;
        *refs
            .entry(name.to_string())
            .or_insert_with(|| Ref::new(node, 1, &[next, 0, 0]).expect("three words"))
    }

    /// A transcript line's term, names replaced.
    pub(crate) fn term(&self, text: &str) -> Term {
        let parsed: Term = text
            .parse()
            .unwrap_or_else(|e| panic!("transcript term {text}: {e}"));
        self.resolve(parsed)
    }

    fn resolve(&self, term: Term) -> Term {
        match term {
            Term::Atom(atom) => {
                let text = atom.as_str();
                if text.starts_with('<') && text.ends_with('>') {
                    Term::Pid(self.pid(text))
                } else if text.starts_with("#Ref") {
                    Term::Ref(self.reference(text))
                } else {
                    Term::Atom(atom)
                }
            }
            Term::Tuple(elements) => {
                Term::Tuple(elements.into_iter().map(|t| self.resolve(t)).collect())
            }
            Term::List(elements) => {
                Term::List(elements.into_iter().map(|t| self.resolve(t)).collect())
            }
            Term::ImproperList(elements, tail) => Term::improper_list(
                elements.into_iter().map(|t| self.resolve(t)).collect(),
                self.resolve(*tail),
            ),
            Term::Map(pairs) => Term::map(
                pairs
                    .into_iter()
                    .map(|(k, v)| (self.resolve(k), self.resolve(v)))
                    .collect(),
            ),
            other => other,
        }
    }
}
