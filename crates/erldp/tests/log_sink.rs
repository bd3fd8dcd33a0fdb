//! `erldp::logging::set_sink`: ErlDP's own logger hands its records to the
//! program (as the C, Ruby and Node.js bindings have it do) instead of
//! writing them to standard error, and writes to standard error again when
//! the sink is removed. The logger is global: this binary holds one test.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use erldp::logging::{self, Level, LevelFilter, Record};
use erldp::Node;
use erldp_testkit::{random_name, BeamPeer};

#[test]
fn records_go_to_the_sink_while_one_is_set() {
    let records: Arc<Mutex<Vec<Record>>> = Arc::default();
    let sink = Arc::clone(&records);
    assert!(logging::init(LevelFilter::Info));
    logging::set_sink(Some(Box::new(move |record| {
        sink.lock().unwrap().push(record)
    })));

    let peer = BeamPeer::start();
    let node = Node::builder(random_name("sink"))
        .cookie(peer.cookie())
        .start()
        .expect("node");
    node.connect(peer.node()).expect("connect");
    let deadline = Instant::now() + Duration::from_secs(10);
    let connected = loop {
        let found = records
            .lock()
            .unwrap()
            .iter()
            .find(|r| {
                r.message
                    .starts_with(&format!("connected to {}", peer.node()))
            })
            .cloned();
        if let Some(record) = found {
            break record;
        }
        assert!(Instant::now() < deadline, "no 'connected to' record");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(connected.level, Level::Info);
    assert_eq!(connected.target, "erldp::node");
    assert!(!connected.thread.is_empty());
    assert!(
        records
            .lock()
            .unwrap()
            .iter()
            .all(|r| r.level <= Level::Info && r.target.starts_with("erldp")),
        "only ErlDP's records, up to the level"
    );

    logging::set_sink(None);
    let count = records.lock().unwrap().len();
    node.close();
    assert_eq!(
        records.lock().unwrap().len(),
        count,
        "no record reaches a removed sink"
    );
}
