//! Redis Cluster's key → slot function, shared by every layer.
//!
//! `slot = CRC16-XMODEM(routing key) % 16384`, where the routing key is the
//! whole key, or the bytes between the first `{` and the next `}` when that
//! span is non-empty. Using exactly Redis Cluster's rule lets cluster-aware
//! Redis clients route by themselves and lets related keys share a slot.

/// Number of hash slots, as in Redis Cluster.
pub const SLOTS: u16 = 16384;

/// CRC16/XMODEM (polynomial 0x1021, initial value 0, no reflection).
pub fn crc16(data: &[u8]) -> u16 {
    data.iter().fold(0u16, |crc, &byte| {
        (crc << 8) ^ CRC16_TABLE[usize::from((crc >> 8) as u8 ^ byte)]
    })
}

/// CRC16/XMODEM of each byte value, built at compile time: one lookup per
/// byte instead of eight shifts (every request hashes its key at least twice).
const CRC16_TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// The part of `key` that decides its slot (the `{hashtag}` rule).
pub fn routing_key(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&b| b == b'{') {
        if let Some(len) = key[open + 1..].iter().position(|&b| b == b'}') {
            if len > 0 {
                return &key[open + 1..open + 1 + len];
            }
        }
    }
    key
}

/// The slot of `key`.
pub fn key_slot(key: &[u8]) -> u16 {
    crc16(routing_key(key)) % SLOTS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_check_value() {
        // The standard check value of CRC16/XMODEM.
        assert_eq!(crc16(b"123456789"), 0x31C3);
        // The table agrees with the bitwise definition on every byte.
        fn bitwise(data: &[u8]) -> u16 {
            let mut crc: u16 = 0;
            for &byte in data {
                crc ^= (byte as u16) << 8;
                for _ in 0..8 {
                    crc = if crc & 0x8000 != 0 {
                        (crc << 1) ^ 0x1021
                    } else {
                        crc << 1
                    };
                }
            }
            crc
        }
        let all: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
        for n in 0..all.len() {
            assert_eq!(crc16(&all[..n]), bitwise(&all[..n]), "{n}");
        }
    }

    #[test]
    fn redis_cluster_vectors() {
        // Values published by Redis Cluster (CLUSTER KEYSLOT), also listed in docs/protocol.md.
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b"hello"), 866);
        assert_eq!(key_slot(b""), 0);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"{user1000}.followers"), key_slot(b"user1000"));
        // An empty tag does not count: the whole key is hashed.
        assert_eq!(key_slot(b"foo{}{bar}"), crc16(b"foo{}{bar}") % SLOTS);
        // Only the first tag counts.
        assert_eq!(key_slot(b"foo{{bar}}zap"), crc16(b"{bar") % SLOTS);
        assert_eq!(key_slot(b"foo{bar}{zap}"), key_slot(b"bar"));
        // An unclosed brace means no tag.
        assert_eq!(key_slot(b"foo{bar"), crc16(b"foo{bar") % SLOTS);
    }
}
