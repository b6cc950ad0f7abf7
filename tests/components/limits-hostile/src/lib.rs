//! `limits-hostile`: a test fixture that breaks the instance limits on purpose.
//!
//! `param attack: text`:
//!
//! | attack | what it does |
//! |--------|--------------|
//! | `spin` | loops forever in `handle` |
//! | `spin-after-first` | yields `{"event":"first"}`, then loops forever in the next pull |
//! | `hoard` | allocates 1 MiB chunks in `handle`, keeping them all, until memory runs out |
//! | `hoard-after-first` | yields `{"event":"first"}`, then hoards in the next pull |
//! | `take-8-mib` | allocates 8 MiB in 1 MiB chunks, then yields `{"event":"took"}` |
//! | `chatter` | prints 1,000 numbered lines to stdout, then yields `{"event":"said"}` |
//! | `panic` | prints `about to give up` to stdout, then panics with `the component gave up` |
//! | `work` | computes for about 20 ms (a fifth of the default budget), then yields `{"event":"worked"}` |
//!
//! The first four never end on their own: the host must cut the loop at the CPU budget and
//! trap the hoard at the memory limit. Before the stream starts the client then gets a 500
//! `COMPONENT_FAILED`; after `first`, an `error` event with that code. `chatter` must cost
//! the host log no more than its per-instance budget, and `panic`'s message must reach the
//! log. An unknown attack is a 400.

use sluice_sdk::{Error, Record, Request, Stream};

fn handle(req: Request) -> Result<Stream, Error> {
    let attack: String = req.param("attack")?;
    match attack.as_str() {
        "spin" => spin(),
        "hoard" => hoard(),
        "spin-after-first" => Ok(first_then(spin)),
        "hoard-after-first" => Ok(first_then(hoard)),
        "take-8-mib" => {
            let taken: Vec<Vec<u8>> = (0..8).map(|_| vec![1u8; 1 << 20]).collect();
            std::hint::black_box(&taken);
            Ok(Stream::once(Record::event("took")))
        }
        "chatter" => {
            for n in 1..=1_000 {
                println!("line {n}");
            }
            Ok(Stream::once(Record::event("said")))
        }
        "work" => Ok(Stream::once(Record::event("worked").data(work()))),
        "panic" => {
            println!("about to give up");
            panic!("the component gave up");
        }
        other => Err(Error::invalid_parameter(
            "attack",
            format!("unknown attack '{other}'"),
        )),
    }
}

/// `first`, flushed to the host on its own, then `attack` in the pull after it.
fn first_then(attack: fn() -> Result<Stream, Error>) -> Stream {
    let mut attacked = false;
    let rest = std::iter::from_fn(move || {
        if attacked {
            return None;
        }
        attacked = true;
        // Never returns; the type only has to fit the iterator.
        attack().ok().map(|_| Record::event("unreachable"))
    });
    Stream::iter_flushed(std::iter::once(Record::event("first")).chain(rest))
}

/// Burn CPU forever. `black_box` keeps the optimizer from proving the loop does nothing.
fn spin() -> Result<Stream, Error> {
    let mut turns: u64 = 0;
    loop {
        turns = std::hint::black_box(turns.wrapping_add(1));
    }
}

/// About 20 ms of computing, all in one call: no attack, a guest the budget must let finish.
fn work() -> u64 {
    const TURNS: u64 = 20_000_000;
    let mut sum: u64 = 0;
    for turn in 0..TURNS {
        sum = std::hint::black_box(sum.wrapping_mul(31).wrapping_add(turn));
    }
    sum
}

/// Take memory forever, touching every chunk so it is really committed.
fn hoard() -> Result<Stream, Error> {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(vec![1u8; 1 << 20]);
        std::hint::black_box(&mut hoard);
    }
}

sluice_sdk::ingress!(handle);
