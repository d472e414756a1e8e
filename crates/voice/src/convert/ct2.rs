//! Reader for CTranslate2's `model.bin` (the layout is in /work/shared/VOICE.md and
//! CTranslate2's `models/model.cc`): a header, named variables, then aliases.

use std::collections::HashMap;

use super::ConvertError;

/// One variable: its shape (row-major, outermost first), dtype and bytes.
#[derive(Debug, Clone)]
pub(crate) struct Var<'a> {
    pub dims: Vec<usize>,
    pub dtype: DType,
    pub data: &'a [u8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DType {
    F32,
    I8,
    I16,
    I32,
    F16,
    BF16,
}

impl DType {
    fn from_code(code: u8) -> Result<Self, ConvertError> {
        Ok(match code {
            0 => Self::F32,
            1 => Self::I8,
            2 => Self::I16,
            3 => Self::I32,
            4 => Self::F16,
            5 => Self::BF16,
            other => return Err(format_err(&format!("unknown dtype code {other}"))),
        })
    }

    pub fn size(self) -> usize {
        match self {
            Self::I8 => 1,
            Self::I16 | Self::F16 | Self::BF16 => 2,
            Self::F32 | Self::I32 => 4,
        }
    }
}

fn format_err(msg: &str) -> ConvertError {
    ConvertError::Format(format!("model.bin: {msg}"))
}

/// The variables of a CTranslate2 model, aliases resolved.
pub(crate) struct Ct2Model<'a> {
    pub spec: String,
    pub vars: HashMap<String, Var<'a>>,
}

impl<'a> Ct2Model<'a> {
    pub fn get(&self, name: &str) -> Result<&Var<'a>, ConvertError> {
        self.vars
            .get(name)
            .ok_or_else(|| format_err(&format!("variable {name} is missing")))
    }

    /// A scalar integer variable such as `encoder/num_heads`.
    pub fn scalar(&self, name: &str) -> Result<i64, ConvertError> {
        let var = self.get(name)?;
        let d = var.data;
        Ok(match (var.dtype, d.len()) {
            (DType::I8, 1) => d[0] as i8 as i64,
            (DType::I16, 2) => i16::from_le_bytes([d[0], d[1]]) as i64,
            (DType::I32, 4) => i32::from_le_bytes([d[0], d[1], d[2], d[3]]) as i64,
            _ => return Err(format_err(&format!("{name} is not an integer scalar"))),
        })
    }
}

struct Cursor<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ConvertError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| format_err("truncated file"))?;
        let out = &self.buf[self.at..end];
        self.at = end;
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, ConvertError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, ConvertError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, ConvertError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// u16 length (counting the trailing NUL), bytes, NUL.
    fn string(&mut self) -> Result<String, ConvertError> {
        let len = self.u16()? as usize;
        let bytes = self.take(len)?;
        let text = bytes.strip_suffix(&[0]).unwrap_or(bytes);
        String::from_utf8(text.to_vec()).map_err(|_| format_err("a variable name is not UTF-8"))
    }
}

/// Parses a whole `model.bin` held in memory.
pub(crate) fn parse(buf: &[u8]) -> Result<Ct2Model<'_>, ConvertError> {
    let mut c = Cursor { buf, at: 0 };
    let version = c.u32()?;
    if !(5..=6).contains(&version) {
        return Err(format_err(&format!("binary version {version} is not supported (expected 6; is this a CTranslate2 model.bin?)")));
    }
    let spec = c.string()?;
    let _revision = c.u32()?;
    let n_vars = c.u32()?;
    let mut vars = HashMap::new();
    for _ in 0..n_vars {
        let name = c.string()?;
        let rank = c.u8()? as usize;
        let dims = (0..rank)
            .map(|_| c.u32().map(|d| d as usize))
            .collect::<Result<Vec<_>, _>>()?;
        let dtype = DType::from_code(c.u8()?)?;
        let nbytes = c.u32()? as usize;
        let data = c.take(nbytes)?;
        let expected = dims.iter().product::<usize>() * dtype.size();
        if expected != nbytes {
            return Err(format_err(&format!(
                "{name}: {nbytes} bytes for shape {dims:?}"
            )));
        }
        vars.insert(name, Var { dims, dtype, data });
    }
    if c.at < buf.len() {
        let n_aliases = c.u32()?;
        for _ in 0..n_aliases {
            let alias = c.string()?;
            let target = c.string()?;
            if let Some(var) = vars.get(&target).cloned() {
                vars.insert(alias, var);
            }
        }
    }
    Ok(Ct2Model { spec, vars })
}
