// SPDX-License-Identifier: MPL-2.0
//! A restricted unpickler: the opcodes and the few globals a PyTorch state dict uses, nothing
//! else. A checkpoint is untrusted input, so no callable outside that set is ever "called":
//! REDUCE only rebuilds ordered dicts, tensors and parameters, and BUILD only accepts a state
//! dict's `_metadata`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use super::PthError;

/// Element types of the storages a state dict holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    F32,
    F16,
    BF16,
    F64,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

impl DType {
    pub fn size(self) -> usize {
        match self {
            DType::F64 | DType::I64 => 8,
            DType::F32 | DType::I32 => 4,
            DType::F16 | DType::BF16 | DType::I16 => 2,
            DType::I8 | DType::U8 | DType::Bool => 1,
        }
    }

    fn from_storage(name: &str) -> Option<DType> {
        Some(match name {
            "FloatStorage" => DType::F32,
            "HalfStorage" => DType::F16,
            "BFloat16Storage" => DType::BF16,
            "DoubleStorage" => DType::F64,
            "LongStorage" => DType::I64,
            "IntStorage" => DType::I32,
            "ShortStorage" => DType::I16,
            "CharStorage" => DType::I8,
            "ByteStorage" => DType::U8,
            "BoolStorage" => DType::Bool,
            _ => return None,
        })
    }
}

/// The callables a state dict may name; any other global is refused when it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Global {
    OrderedDict,
    RebuildTensorV2,
    RebuildParameter,
    Storage(DType),
}

fn global(module: &str, name: &str) -> Result<Global, PthError> {
    let g = match (module, name) {
        ("collections", "OrderedDict") => Some(Global::OrderedDict),
        ("torch._utils", "_rebuild_tensor_v2") => Some(Global::RebuildTensorV2),
        ("torch._utils", "_rebuild_parameter") => Some(Global::RebuildParameter),
        ("torch", storage) => DType::from_storage(storage).map(Global::Storage),
        _ => None,
    };
    g.ok_or_else(|| PthError::ForbiddenGlobal(format!("{module}.{name}")))
}

/// A storage a tensor views: the key of its bytes in the checkpoint and its element type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageRef {
    pub key: String,
    pub dtype: DType,
    /// Element count the checkpoint claims (checked against the bytes later).
    pub numel: u64,
}

/// A tensor as the pickle describes it; the bytes are read by the archive layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorRef {
    pub storage: StorageRef,
    pub offset: u64,
    pub shape: Vec<u64>,
    pub stride: Vec<u64>,
}

/// Python values a state dict is made of. Lists and dicts are shared (pickle's memo aliases
/// them), so mutation after memoizing is seen through every reference, as in Python.
#[derive(Clone)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// Integers wider than 64 bits, as pickle's little-endian two's complement bytes.
    BigInt(Vec<u8>),
    Float(f64),
    Str(Rc<str>),
    Bytes(Rc<[u8]>),
    Tuple(Rc<[Value]>),
    List(Rc<RefCell<Vec<Value>>>),
    Dict(Rc<RefCell<Vec<(Value, Value)>>>),
    Global(Global),
    Storage(Rc<StorageRef>),
    Tensor(Rc<TensorRef>),
    Mark,
}

/// Drops nested containers with a loop instead of recursion, so a pickle nesting a million
/// tuples cannot overflow the stack when its values go away. A container shared elsewhere
/// only loses a reference, so nothing is dropped twice.
impl Drop for Value {
    fn drop(&mut self) {
        fn take_children(v: &mut Value, out: &mut Vec<Value>) {
            match v {
                Value::Tuple(t) => {
                    if let Some(items) = Rc::get_mut(t) {
                        out.extend(items.iter_mut().map(|i| std::mem::replace(i, Value::None)));
                    }
                }
                Value::List(l) => {
                    if let Some(cell) = Rc::get_mut(l) {
                        out.append(cell.get_mut());
                    }
                }
                Value::Dict(d) => {
                    if let Some(cell) = Rc::get_mut(d) {
                        for (k, v) in cell.get_mut().drain(..) {
                            out.push(k);
                            out.push(v);
                        }
                    }
                }
                _ => {}
            }
        }
        let mut pending = Vec::new();
        take_children(self, &mut pending);
        while let Some(mut v) = pending.pop() {
            take_children(&mut v, &mut pending);
        }
    }
}

impl Value {
    /// What kind of value this is, for errors (never the contents: they may be cyclic).
    pub fn kind(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::BigInt(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::Tuple(_) => "tuple",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
            Value::Global(_) => "global",
            Value::Storage(_) => "storage",
            Value::Tensor(_) => "tensor",
            Value::Mark => "mark",
        }
    }

    fn as_u64(&self, what: &str) -> Result<u64, PthError> {
        match self {
            Value::Int(i) if *i >= 0 => Ok(*i as u64),
            other => Err(PthError::Malformed(format!(
                "{what} must be a non-negative int, found {}",
                other.kind()
            ))),
        }
    }

    fn int_list(&self, what: &str) -> Result<Vec<u64>, PthError> {
        let items: Vec<Value> = match self {
            Value::Tuple(t) => t.to_vec(),
            Value::List(l) => l.borrow().clone(),
            other => {
                return Err(PthError::Malformed(format!(
                    "{what} must be a tuple of ints, found {}",
                    other.kind()
                )));
            }
        };
        items.iter().map(|v| v.as_u64(what)).collect()
    }
}

/// Where pickle reads its bytes and hands persistent ids for storages.
pub struct Unpickler<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    memo: HashMap<u64, Value>,
}

/// Stack depth and memo size are bounded by the input size anyway (each entry costs at least
/// one opcode byte); this is only a guard against runaway nesting in what we build.
const MAX_STACK: usize = 1 << 20;

impl<'a> Unpickler<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Unpickler {
            data,
            pos: 0,
            stack: Vec::new(),
            memo: HashMap::new(),
        }
    }

    /// Bytes consumed so far (the legacy format has several pickles in a row).
    pub fn position(&self) -> usize {
        self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], PthError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or(PthError::TruncatedPickle)?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8, PthError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, PthError> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2")))
    }

    fn u32(&mut self) -> Result<u32, PthError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }

    fn u64(&mut self) -> Result<u64, PthError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }

    fn line(&mut self) -> Result<&'a str, PthError> {
        let rest = &self.data[self.pos.min(self.data.len())..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or(PthError::TruncatedPickle)?;
        let s = self.take(n + 1)?;
        std::str::from_utf8(&s[..n]).map_err(|_| PthError::Malformed("line is not UTF-8".into()))
    }

    fn push(&mut self, v: Value) -> Result<(), PthError> {
        if self.stack.len() >= MAX_STACK {
            return Err(PthError::Malformed("pickle stack too deep".into()));
        }
        self.stack.push(v);
        Ok(())
    }

    fn pop(&mut self) -> Result<Value, PthError> {
        match self.stack.pop() {
            Some(Value::Mark) | None => Err(PthError::Malformed("pickle stack underflow".into())),
            Some(v) => Ok(v),
        }
    }

    fn top(&mut self) -> Result<&mut Value, PthError> {
        match self.stack.last_mut() {
            Some(Value::Mark) | None => Err(PthError::Malformed("pickle stack underflow".into())),
            Some(v) => Ok(v),
        }
    }

    /// The values above the topmost mark, removing them and the mark.
    fn pop_mark(&mut self) -> Result<Vec<Value>, PthError> {
        let at = self
            .stack
            .iter()
            .rposition(|v| matches!(v, Value::Mark))
            .ok_or_else(|| PthError::Malformed("no mark on the pickle stack".into()))?;
        let items = self.stack.split_off(at + 1);
        self.stack.pop();
        Ok(items)
    }

    fn string(bytes: &[u8]) -> Result<Value, PthError> {
        let s = std::str::from_utf8(bytes)
            .map_err(|_| PthError::Malformed("string is not UTF-8".into()))?;
        Ok(Value::Str(Rc::from(s)))
    }

    fn memo_get(&self, key: u64) -> Result<Value, PthError> {
        self.memo
            .get(&key)
            .cloned()
            .ok_or_else(|| PthError::Malformed(format!("memo entry {key} missing")))
    }

    fn memo_put(&mut self, key: u64) -> Result<(), PthError> {
        let v = self.top()?.clone();
        self.memo.insert(key, v);
        Ok(())
    }

    /// Reads one pickle up to its STOP and returns its value.
    pub fn load(&mut self) -> Result<Value, PthError> {
        self.stack.clear();
        self.memo.clear();
        loop {
            let op = self.byte()?;
            match op {
                0x80 => {
                    let proto = self.byte()?;
                    if proto > 5 {
                        return Err(PthError::Malformed(format!(
                            "pickle protocol {proto} unknown"
                        )));
                    }
                }
                0x95 => {
                    self.u64()?; // FRAME: a length hint only
                }
                b'.' => return self.pop(),
                b'(' => self.push(Value::Mark)?,
                b')' => self.push(Value::Tuple(Rc::from(Vec::new())))?,
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(Value::Tuple(Rc::from(items)))?;
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.push(Value::Tuple(Rc::from(items)))?;
                }
                b']' => self.push(Value::List(Rc::new(RefCell::new(Vec::new()))))?,
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push(Value::List(Rc::new(RefCell::new(items))))?;
                }
                b'a' => {
                    let v = self.pop()?;
                    self.append(vec![v])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    self.append(items)?;
                }
                b'}' => self.push(Value::Dict(Rc::new(RefCell::new(Vec::new()))))?,
                b'd' => {
                    let items = self.pop_mark()?;
                    let pairs = pairs(items)?;
                    self.push(Value::Dict(Rc::new(RefCell::new(pairs))))?;
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    self.set_items(vec![(k, v)])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let pairs = pairs(items)?;
                    self.set_items(pairs)?;
                }
                b'N' => self.push(Value::None)?,
                0x88 => self.push(Value::Bool(true))?,
                0x89 => self.push(Value::Bool(false))?,
                b'J' => {
                    let v = self.u32()? as i32;
                    self.push(Value::Int(v as i64))?;
                }
                b'K' => {
                    let v = self.byte()?;
                    self.push(Value::Int(v as i64))?;
                }
                b'M' => {
                    let v = self.u16()?;
                    self.push(Value::Int(v as i64))?;
                }
                0x8a => {
                    let n = self.byte()? as usize;
                    let bytes = self.take(n)?;
                    self.push(long(bytes))?;
                }
                0x8b => {
                    let n = self.u32()? as usize;
                    let bytes = self.take(n)?;
                    self.push(long(bytes))?;
                }
                b'I' => {
                    let line = self.line()?;
                    let v =
                        match line {
                            "00" => Value::Bool(false),
                            "01" => Value::Bool(true),
                            s => Value::Int(s.trim().parse().map_err(|_| {
                                PthError::Malformed(format!("bad INT literal {s:?}"))
                            })?),
                        };
                    self.push(v)?;
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.take(8)?.try_into().expect("8"));
                    self.push(Value::Float(v))?;
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    let v = Self::string(self.take(n)?)?;
                    self.push(v)?;
                }
                0x8c => {
                    let n = self.byte()? as usize;
                    let v = Self::string(self.take(n)?)?;
                    self.push(v)?;
                }
                0x8d => {
                    let n = usize::try_from(self.u64()?).map_err(|_| PthError::TruncatedPickle)?;
                    let v = Self::string(self.take(n)?)?;
                    self.push(v)?;
                }
                // Python 2 byte strings (BINSTRING, SHORT_BINSTRING) and bytes.
                b'T' | b'B' => {
                    let n = self.u32()? as usize;
                    let b = self.take(n)?;
                    self.push(Value::Bytes(Rc::from(b)))?;
                }
                b'U' | b'C' => {
                    let n = self.byte()? as usize;
                    let b = self.take(n)?;
                    self.push(Value::Bytes(Rc::from(b)))?;
                }
                b'q' => {
                    let k = self.byte()? as u64;
                    self.memo_put(k)?;
                }
                b'r' => {
                    let k = self.u32()? as u64;
                    self.memo_put(k)?;
                }
                b'p' => {
                    let line = self.line()?;
                    let k = line
                        .parse()
                        .map_err(|_| PthError::Malformed(format!("bad PUT index {line:?}")))?;
                    self.memo_put(k)?;
                }
                0x94 => {
                    let k = self.memo.len() as u64;
                    self.memo_put(k)?;
                }
                b'h' => {
                    let k = self.byte()? as u64;
                    let v = self.memo_get(k)?;
                    self.push(v)?;
                }
                b'j' => {
                    let k = self.u32()? as u64;
                    let v = self.memo_get(k)?;
                    self.push(v)?;
                }
                b'g' => {
                    let line = self.line()?;
                    let k = line
                        .parse()
                        .map_err(|_| PthError::Malformed(format!("bad GET index {line:?}")))?;
                    let v = self.memo_get(k)?;
                    self.push(v)?;
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    let g = global(module, name)?;
                    self.push(Value::Global(g))?;
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Value::Str(module), Value::Str(name)) = (&module, &name) else {
                        return Err(PthError::Malformed("STACK_GLOBAL needs two strings".into()));
                    };
                    let g = global(module, name)?;
                    self.push(Value::Global(g))?;
                }
                b'R' => {
                    let args = self.pop()?;
                    let func = self.pop()?;
                    let v = reduce(func, args)?;
                    self.push(v)?;
                }
                b'b' => {
                    let state = self.pop()?;
                    let target = self.top()?;
                    build(target, state)?;
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let v = persistent_load(pid)?;
                    self.push(v)?;
                }
                b'0' => {
                    self.stack
                        .pop()
                        .ok_or_else(|| PthError::Malformed("pickle stack underflow".into()))?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let v = self.top()?.clone();
                    self.push(v)?;
                }
                other => return Err(PthError::Opcode(other)),
            }
        }
    }

    fn append(&mut self, items: Vec<Value>) -> Result<(), PthError> {
        match self.top()? {
            Value::List(l) => {
                l.borrow_mut().extend(items);
                Ok(())
            }
            other => Err(PthError::Malformed(format!(
                "APPEND to a {}, not a list",
                other.kind()
            ))),
        }
    }

    fn set_items(&mut self, items: Vec<(Value, Value)>) -> Result<(), PthError> {
        match self.top()? {
            Value::Dict(d) => {
                d.borrow_mut().extend(items);
                Ok(())
            }
            other => Err(PthError::Malformed(format!(
                "SETITEM on a {}, not a dict",
                other.kind()
            ))),
        }
    }
}

fn pairs(items: Vec<Value>) -> Result<Vec<(Value, Value)>, PthError> {
    if !items.len().is_multiple_of(2) {
        return Err(PthError::Malformed("odd number of dict items".into()));
    }
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    Ok(out)
}

/// LONG1/LONG4: little-endian two's complement.
fn long(bytes: &[u8]) -> Value {
    if bytes.len() <= 8 {
        let mut buf = if bytes.last().is_some_and(|b| b & 0x80 != 0) {
            [0xff; 8]
        } else {
            [0; 8]
        };
        buf[..bytes.len()].copy_from_slice(bytes);
        Value::Int(i64::from_le_bytes(buf))
    } else {
        Value::BigInt(bytes.to_vec())
    }
}

fn args_of(args: &Value) -> Result<&[Value], PthError> {
    match args {
        Value::Tuple(t) => Ok(t),
        other => Err(PthError::Malformed(format!(
            "REDUCE arguments must be a tuple, found {}",
            other.kind()
        ))),
    }
}

/// The only calls a state dict makes.
fn reduce(func: Value, args: Value) -> Result<Value, PthError> {
    let Value::Global(g) = func else {
        return Err(PthError::ForbiddenCall(format!(
            "REDUCE on a {}",
            func.kind()
        )));
    };
    let args = args_of(&args)?;
    match g {
        Global::OrderedDict => {
            // `OrderedDict()` or `OrderedDict([(k, v), …])`.
            let items = match args {
                [] => Vec::new(),
                [Value::List(l)] => {
                    let l = l.borrow();
                    let mut items = Vec::with_capacity(l.len());
                    for pair in l.iter() {
                        match pair {
                            Value::Tuple(t) if t.len() == 2 => {
                                items.push((t[0].clone(), t[1].clone()))
                            }
                            _ => {
                                return Err(PthError::Malformed(
                                    "OrderedDict items must be pairs".into(),
                                ));
                            }
                        }
                    }
                    items
                }
                _ => {
                    return Err(PthError::Malformed(
                        "OrderedDict called with unexpected arguments".into(),
                    ));
                }
            };
            Ok(Value::Dict(Rc::new(RefCell::new(items))))
        }
        Global::RebuildTensorV2 => {
            // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
            let [storage, offset, size, stride, ..] = args else {
                return Err(PthError::Malformed(
                    "_rebuild_tensor_v2 needs at least 4 arguments".into(),
                ));
            };
            let Value::Storage(storage) = storage else {
                return Err(PthError::Malformed(format!(
                    "_rebuild_tensor_v2 needs a storage, found {}",
                    storage.kind()
                )));
            };
            let shape = size.int_list("tensor size")?;
            let stride = stride.int_list("tensor stride")?;
            if shape.len() != stride.len() {
                return Err(PthError::Malformed(format!(
                    "tensor has {} sizes but {} strides",
                    shape.len(),
                    stride.len()
                )));
            }
            Ok(Value::Tensor(Rc::new(TensorRef {
                storage: (*storage).as_ref().clone(),
                offset: offset.as_u64("storage offset")?,
                shape,
                stride,
            })))
        }
        Global::RebuildParameter => match args.first() {
            Some(t @ Value::Tensor(_)) => Ok(t.clone()),
            _ => Err(PthError::Malformed(
                "_rebuild_parameter needs a tensor".into(),
            )),
        },
        Global::Storage(_) => Err(PthError::ForbiddenCall(
            "a storage type called directly".into(),
        )),
    }
}

/// BUILD: only the `_metadata` (or other plain attributes) of an ordered dict, ignored.
fn build(target: &Value, state: Value) -> Result<(), PthError> {
    match (target, &state) {
        (Value::Dict(_), Value::Dict(_) | Value::None) => Ok(()),
        _ => Err(PthError::ForbiddenCall(format!(
            "BUILD of a {} with a {}",
            target.kind(),
            state.kind()
        ))),
    }
}

/// `('storage', storage_type, key, location, numel[, view_metadata])`.
fn persistent_load(pid: Value) -> Result<Value, PthError> {
    let Value::Tuple(t) = &pid else {
        return Err(PthError::Malformed(format!(
            "persistent id must be a tuple, found {}",
            pid.kind()
        )));
    };
    let [
        Value::Str(tag),
        Value::Global(Global::Storage(dtype)),
        key,
        _location,
        numel,
        rest @ ..,
    ] = &t[..]
    else {
        return Err(PthError::Malformed(
            "persistent id is not a storage reference".into(),
        ));
    };
    if &**tag != "storage" || rest.iter().any(|v| !matches!(v, Value::None)) {
        return Err(PthError::Malformed(
            "persistent id is not a plain storage reference".into(),
        ));
    }
    let key = match key {
        Value::Str(s) => s.to_string(),
        Value::Int(i) => i.to_string(),
        other => {
            return Err(PthError::Malformed(format!(
                "storage key must be a string, found {}",
                other.kind()
            )));
        }
    };
    Ok(Value::Storage(Rc::new(StorageRef {
        key,
        dtype: *dtype,
        numel: numel.as_u64("storage size")?,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_global_is_refused_before_any_call() {
        // GLOBAL os.system, the classic pickle exploit.
        let p = b"\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03.";
        let e = Unpickler::new(p).load().err().unwrap();
        assert!(
            matches!(e, PthError::ForbiddenGlobal(ref g) if g == "os.system"),
            "{e}"
        );
    }

    #[test]
    fn ordered_dict_with_metadata_build_loads() {
        // OrderedDict() ; SETITEMS {'a': 1} ; BUILD {'_metadata': {}}
        let p = b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01(X\x01\x00\x00\x00aK\x01u}X\x09\x00\x00\x00_metadata}sb.";
        let v = Unpickler::new(p).load().unwrap();
        let Value::Dict(d) = &v else {
            panic!("not a dict")
        };
        assert_eq!(d.borrow().len(), 1);
    }

    #[test]
    fn reduce_on_non_global_is_refused() {
        let p = b"\x80\x02K\x01)R.";
        assert!(matches!(
            Unpickler::new(p).load(),
            Err(PthError::ForbiddenCall(_))
        ));
    }

    #[test]
    fn longs_decode_twos_complement() {
        assert!(matches!(long(&[0xff]), Value::Int(-1)));
        assert!(matches!(long(&[0x00, 0x01]), Value::Int(256)));
        assert!(matches!(long(&[]), Value::Int(0)));
    }

    #[test]
    fn deeply_nested_values_drop_without_recursion() {
        // A million nested tuples and lists, on a thread with a small stack.
        let n = 1_000_000;
        let mut tuples = vec![0x80, 2];
        tuples.extend(std::iter::repeat_n(b'(', n));
        tuples.push(b')');
        tuples.extend(std::iter::repeat_n(b't', n));
        tuples.push(b'.');
        let mut lists = vec![0x80, 2];
        lists.extend(std::iter::repeat_n(b']', n));
        lists.extend(std::iter::repeat_n(b'a', n - 1));
        lists.push(b'.');
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                for p in [tuples, lists] {
                    let v = Unpickler::new(&p).load().unwrap();
                    assert!(matches!(v, Value::Tuple(_) | Value::List(_)));
                }
            })
            .unwrap()
            .join()
            .unwrap();
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = Unpickler::new(&data).load();
        }

        #[test]
        fn arbitrary_bytes_after_a_proto_header_never_panic(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let mut p = vec![0x80, 2];
            p.extend(data);
            let _ = Unpickler::new(&p).load();
        }
    }
}
