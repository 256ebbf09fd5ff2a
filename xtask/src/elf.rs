//! Just enough ELF reading to tell a static binary from a dynamic one.

use anyhow::{Context, Result, bail, ensure};

const PT_INTERP: u32 = 3;
const PT_DYNAMIC: u32 = 2;

/// How an executable is linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linkage {
    /// No interpreter and no dynamic section: runs with nothing else on the system.
    Static,
    /// No interpreter, but relocates itself (static-pie).
    StaticPie,
    /// Needs a dynamic loader.
    Dynamic,
}

/// Reads the program headers of a 64-bit little-endian ELF file.
pub fn linkage(bytes: &[u8]) -> Result<Linkage> {
    ensure!(
        bytes.len() >= 64 && &bytes[..4] == b"\x7fELF",
        "not an ELF file"
    );
    ensure!(
        bytes[4] == 2 && bytes[5] == 1,
        "not a 64-bit little-endian ELF file"
    );
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(bytes[32..40].try_into()?) as usize;
    let phentsize = u16_at(54);
    let phnum = u16_at(56);
    ensure!(
        phentsize >= 4,
        "program header entries of {phentsize} bytes"
    );
    let mut dynamic = false;
    for i in 0..phnum {
        let at = phoff + i * phentsize;
        let Some(header) = bytes.get(at..at + 4) else {
            bail!("program header {i} lies outside the file");
        };
        match u32::from_le_bytes(header.try_into()?) {
            PT_INTERP => return Ok(Linkage::Dynamic),
            PT_DYNAMIC => dynamic = true,
            _ => {}
        }
    }
    Ok(if dynamic {
        Linkage::StaticPie
    } else {
        Linkage::Static
    })
}

/// The contents of the section called `name`, if the file has one.
pub fn section<'a>(bytes: &'a [u8], name: &str) -> Result<Option<&'a [u8]>> {
    ensure!(
        bytes.len() >= 64 && &bytes[..4] == b"\x7fELF",
        "not an ELF file"
    );
    ensure!(
        bytes[4] == 2 && bytes[5] == 1,
        "not a 64-bit little-endian ELF file"
    );
    let u16_at = |o: usize| -> Result<usize> {
        let b = bytes.get(o..o + 2).context("truncated ELF header")?;
        Ok(u16::from_le_bytes([b[0], b[1]]) as usize)
    };
    let u64_at = |o: usize| -> Result<usize> {
        let b = bytes.get(o..o + 8).context("truncated section header")?;
        Ok(u64::from_le_bytes(b.try_into()?) as usize)
    };
    let u32_at = |o: usize| -> Result<usize> {
        let b = bytes.get(o..o + 4).context("truncated section header")?;
        Ok(u32::from_le_bytes(b.try_into()?) as usize)
    };
    let shoff = u64_at(0x28)?;
    let (shentsize, shnum, shstrndx) = (u16_at(0x3a)?, u16_at(0x3c)?, u16_at(0x3e)?);
    ensure!(
        shentsize >= 40,
        "section header entries of {shentsize} bytes"
    );
    let header = |i: usize| shoff + i * shentsize;
    let contents = |i: usize| -> Result<&'a [u8]> {
        let (offset, size) = (u64_at(header(i) + 24)?, u64_at(header(i) + 32)?);
        bytes
            .get(offset..offset + size)
            .context("section lies outside the file")
    };
    let names = contents(shstrndx)?;
    for i in 0..shnum {
        let start = u32_at(header(i))?;
        let Some(rest) = names.get(start..) else {
            continue;
        };
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        if &rest[..end] == name.as_bytes() {
            return contents(i).map(Some);
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_running_test_binary_is_dynamic() {
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        // cargo test builds for the host: glibc, with an interpreter
        assert_eq!(linkage(&exe).unwrap(), Linkage::Dynamic);
    }

    #[test]
    fn sections_are_found_by_name() {
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let text = section(&exe, ".text").unwrap().unwrap();
        assert!(!text.is_empty());
        assert_eq!(section(&exe, ".no-such-section").unwrap(), None);
    }

    #[test]
    fn garbage_is_not_elf() {
        assert!(linkage(b"#!/bin/sh\n").is_err());
        let mut truncated = b"\x7fELF\x02\x01".to_vec();
        truncated.resize(64, 0);
        truncated[32] = 200; // program headers past the end
        truncated[56] = 1;
        truncated[54] = 56;
        assert!(linkage(&truncated).is_err());
    }
}
