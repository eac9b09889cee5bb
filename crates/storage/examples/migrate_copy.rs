//! Streamed batches against SST ingestion for a migration's copy
//! (docs/cluster.md, "Moving slots"; BENCHMARKS.md, "The copy: streamed
//! batches or SST ingestion"). Both read the same source over the moving
//! slots' key range at a snapshot; then
//! - **stream**: 1 MiB WriteBatches written with the WAL, the WAL synced
//!   after each (one group commit each, as `stage_migrated` does), and the
//!   memtables flushed at the end, so both end with the data in SST files;
//! - **ingest**: SstFileWriter files of up to 64 MiB, then
//!   `ingest_external_file` (moving the files).
//!
//! Prints wall time, the process's CPU time and the bytes it wrote to disk
//! for each. The options are the partitions' table settings (LZ4, 10-bit
//! Bloom filters); the network hop is the same for both and left out.
//!
//! `cargo run --release -p tessera-storage --example migrate_copy -- [KEYS] [VALUE_BYTES] [DIR]`
use std::path::Path;
use std::time::Instant;

use rocksdb::{
    BlockBasedOptions, DBCompressionType, IngestExternalFileOptions, Options, SstFileWriter,
    WriteBatch, WriteOptions, DB,
};

const SLOTS: u16 = 1000;
const CHUNK: usize = 1 << 20;
const SST_BYTES: u64 = 64 << 20;

fn options() -> Options {
    let mut o = Options::default();
    o.create_if_missing(true);
    let mut t = BlockBasedOptions::default();
    t.set_bloom_filter(10.0, false);
    o.set_block_based_table_factory(&t);
    o.set_compression_type(DBCompressionType::Lz4);
    o
}

/// (CPU seconds of this process, bytes it wrote to storage) so far.
fn usage() -> (f64, u64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat (11 and 12 after the name).
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    let io = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    let written = io
        .lines()
        .find_map(|l| l.strip_prefix("write_bytes: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    (cpu, written)
}

fn key(slot: u16, i: u64) -> Vec<u8> {
    let mut k = slot.to_be_bytes().to_vec();
    k.extend_from_slice(format!("key:{i:012}").as_bytes());
    k
}

/// A value of `n` bytes from 16 letters: LZ4 shrinks it about by half.
fn value(i: u64, n: usize) -> Vec<u8> {
    let mut x = xxhash_rust::xxh3::xxh3_64(&i.to_le_bytes());
    (0..n)
        .map(|j| {
            if j % 16 == 0 {
                x = xxhash_rust::xxh3::xxh3_64(&x.to_le_bytes());
            }
            b'a' + ((x >> ((j % 16) * 4)) & 15) as u8
        })
        .collect()
}

fn measure(what: &str, keys: u64, f: impl FnOnce()) {
    let (c0, w0) = usage();
    let t = Instant::now();
    f();
    let wall = t.elapsed().as_secs_f64();
    let (c1, w1) = usage();
    println!(
        "{what:7} {wall:6.2} s wall  {:6.2} s CPU  {:7.1} MiB written  {:8.0} keys/s",
        c1 - c0,
        (w1 - w0) as f64 / (1 << 20) as f64,
        keys as f64 / wall
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let keys: u64 = args
        .get(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let size: usize = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(256);
    let root = tempfile::tempdir_in(args.get(3).map_or(".", String::as_str)).expect("a temp dir");
    let dir = |n: &str| root.path().join(n);

    let src = DB::open(&options(), dir("source")).expect("the source");
    let mut b = WriteBatch::default();
    for i in 0..keys {
        b.put(key((i % u64::from(SLOTS)) as u16, i), value(i, size));
        if b.size_in_bytes() >= CHUNK {
            src.write(std::mem::take(&mut b)).expect("fill");
        }
    }
    src.write(b).expect("fill");
    src.flush().expect("flush");
    let moved = || {
        let mut r = rocksdb::ReadOptions::default();
        r.set_iterate_upper_bound(SLOTS.to_be_bytes().to_vec());
        let snap = src.snapshot();
        r.set_snapshot(&snap);
        let it = src.iterator_opt(rocksdb::IteratorMode::Start, r);
        it.map(|e| e.expect("read")).collect::<Vec<_>>()
    };
    println!(
        "{keys} keys of {size} bytes over {SLOTS} slots ({:.0} MiB of keys and values)",
        (keys as f64 * (size + 18) as f64) / (1 << 20) as f64
    );

    let target = DB::open(&options(), dir("stream")).expect("a target");
    measure("stream", keys, || {
        let mut b = WriteBatch::default();
        let mut w = WriteOptions::default();
        w.set_sync(false);
        let write = |b: WriteBatch| {
            target.write_opt(b, &w).expect("write");
            target.flush_wal(true).expect("sync");
        };
        for (k, v) in moved() {
            b.put(&k, &v);
            if b.size_in_bytes() >= CHUNK {
                write(std::mem::take(&mut b));
            }
        }
        write(b);
        target.flush().expect("flush");
    });
    drop(target);

    let target = DB::open(&options(), dir("ingest")).expect("a target");
    measure("ingest", keys, || {
        let files = dir("ssts");
        std::fs::create_dir_all(&files).expect("a directory");
        let mut paths = Vec::new();
        let o = options();
        let mut w: Option<SstFileWriter> = None;
        let open = |paths: &mut Vec<std::path::PathBuf>, files: &Path| {
            let p = files.join(format!("{}.sst", paths.len()));
            let s = SstFileWriter::create(&o);
            s.open(&p).expect("an SST file");
            paths.push(p);
            s
        };
        for (k, v) in moved() {
            if w.as_ref().is_none_or(|s| s.file_size() >= SST_BYTES) {
                if let Some(mut s) = w.take() {
                    s.finish().expect("finish");
                }
                w = Some(open(&mut paths, &files));
            }
            w.as_mut().unwrap().put(&k, &v).expect("put");
        }
        if let Some(mut s) = w.take() {
            s.finish().expect("finish");
        }
        let mut io = IngestExternalFileOptions::default();
        io.set_move_files(true);
        target
            .ingest_external_file_opts(&io, paths)
            .expect("ingest");
    });
    let n = target.iterator(rocksdb::IteratorMode::Start).count() as u64;
    assert_eq!(n, keys, "every key ingested");
}
