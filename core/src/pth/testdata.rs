// SPDX-License-Identifier: MPL-2.0
//! Checkpoints written the way `torch.save` writes them (protocol-2 pickles, legacy sequence
//! or stored zip), for unit tests that need whole files without shared data.

/// A state-dict entry: key, shape, values (float32, contiguous).
pub type Entry = (String, Vec<usize>, Vec<f32>);

fn str_op(out: &mut Vec<u8>, s: &str) {
    out.push(b'X');
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn int_op(out: &mut Vec<u8>, v: usize) {
    out.push(b'J');
    out.extend_from_slice(&(v as u32).to_le_bytes());
}

/// The state dict's pickle (storages by persistent id, keys "0", "1", …) and the storages.
pub fn pickle(entries: &[Entry]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut p = vec![0x80, 2];
    p.extend_from_slice(b"ccollections\nOrderedDict\nq\x00)Rq\x01(");
    let mut storages = Vec::new();
    for (i, (key, shape, data)) in entries.iter().enumerate() {
        str_op(&mut p, key);
        p.extend_from_slice(b"ctorch._utils\n_rebuild_tensor_v2\n((");
        str_op(&mut p, "storage");
        p.extend_from_slice(b"ctorch\nFloatStorage\n");
        str_op(&mut p, &i.to_string());
        str_op(&mut p, "cpu");
        int_op(&mut p, data.len());
        p.extend_from_slice(b"tQ");
        int_op(&mut p, 0);
        p.push(b'(');
        for &d in shape {
            int_op(&mut p, d);
        }
        p.extend_from_slice(b"t(");
        let mut stride = vec![1; shape.len()];
        for d in (0..shape.len().saturating_sub(1)).rev() {
            stride[d] = stride[d + 1] * shape[d + 1];
        }
        for s in stride {
            int_op(&mut p, s);
        }
        p.extend_from_slice(b"t\x89h\x00)RtR");
        storages.push(data.iter().flat_map(|v| v.to_le_bytes()).collect());
    }
    // SETITEMS, then BUILD with the `_metadata` attribute, as OrderedDict's reduce does.
    p.extend_from_slice(b"u}");
    str_op(&mut p, "_metadata");
    p.extend_from_slice(b"h\x00)Rsb.");
    (p, storages)
}

/// The legacy format: magic, protocol, sys_info, the state dict, the storage keys, storages.
pub fn legacy(entries: &[Entry]) -> Vec<u8> {
    let mut out =
        b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.\x80\x02M\xe9\x03.".to_vec();
    out.extend_from_slice(b"\x80\x02}");
    str_op(&mut out, "little_endian");
    out.extend_from_slice(b"\x88s.");
    let (p, storages) = pickle(entries);
    out.extend(p);
    out.extend_from_slice(b"\x80\x02](");
    // Keys as torch sorts them: as strings.
    let mut keys: Vec<String> = (0..storages.len()).map(|i| i.to_string()).collect();
    keys.sort();
    for k in &keys {
        str_op(&mut out, k);
    }
    out.extend_from_slice(b"e.");
    for k in &keys {
        let s = &storages[k.parse::<usize>().expect("index")];
        out.extend_from_slice(&((s.len() / 4) as u64).to_le_bytes());
        out.extend_from_slice(s);
    }
    out
}

/// A zip of stored entries, as PyTorch ≥ 1.6 writes it.
pub fn zip(entries: &[Entry]) -> Vec<u8> {
    let (p, storages) = pickle(entries);
    let mut files = vec![("ckpt/data.pkl".to_string(), p)];
    files.push(("ckpt/byteorder".into(), b"little".to_vec()));
    for (i, s) in storages.into_iter().enumerate() {
        files.push((format!("ckpt/data/{i}"), s));
    }
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in &files {
        let offset = out.len() as u32;
        let le16 = |v: &mut Vec<u8>, x: u16| v.extend_from_slice(&x.to_le_bytes());
        let le32 = |v: &mut Vec<u8>, x: u32| v.extend_from_slice(&x.to_le_bytes());
        out.extend_from_slice(b"PK\x03\x04");
        le16(&mut out, 20);
        le16(&mut out, 0);
        le16(&mut out, 0); // stored
        le32(&mut out, 0); // time, date
        le32(&mut out, 0); // crc (not checked)
        le32(&mut out, data.len() as u32);
        le32(&mut out, data.len() as u32);
        le16(&mut out, name.len() as u16);
        le16(&mut out, 0);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        central.extend_from_slice(b"PK\x01\x02");
        le16(&mut central, 20);
        le16(&mut central, 20);
        le16(&mut central, 0);
        le16(&mut central, 0);
        le32(&mut central, 0);
        le32(&mut central, 0);
        le32(&mut central, data.len() as u32);
        le32(&mut central, data.len() as u32);
        le16(&mut central, name.len() as u16);
        le16(&mut central, 0);
        le16(&mut central, 0);
        le16(&mut central, 0);
        le16(&mut central, 0);
        le32(&mut central, 0);
        le32(&mut central, offset);
        central.extend_from_slice(name.as_bytes());
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(b"PK\x05\x06\0\0\0\0");
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out
}

fn values(n: usize, seed: usize, fan_in: usize) -> Vec<f32> {
    (0..n)
        .map(|i| (((i * 7919 + seed * 31) % 17) as f32 - 8.0) / 8.0 / (fan_in as f32).sqrt())
        .collect()
}

fn bn(add: &mut dyn FnMut(String, Vec<usize>), name: &str, c: usize) {
    for p in ["weight", "bias", "running_mean", "running_var"] {
        add(format!("{name}.{p}"), vec![c]);
    }
}

/// A tiny trt_pose network with odd channel counts: ResNet with one basic block per stage
/// (`resnet10`), attention head with `ups` upsamplings of 6 channels, 5 cmap and 8 paf
/// channels, under `prefix`.
pub fn tiny_resnet(prefix: &str, ups: usize) -> Vec<Entry> {
    let mut e: Vec<Entry> = Vec::new();
    let mut add = |key: String, shape: Vec<usize>| {
        let n: usize = shape.iter().product();
        let fan_in = shape.iter().skip(1).product::<usize>().max(1);
        let data = if key.ends_with("running_var") {
            vec![1.5; n]
        } else {
            values(n, e.len(), fan_in)
        };
        e.push((format!("{prefix}{key}"), shape, data));
    };
    add("0.resnet.conv1.weight".into(), vec![4, 3, 7, 7]);
    bn(&mut add, "0.resnet.bn1", 4);
    let mut cin = 4;
    for (l, c) in [4usize, 6, 8, 10].into_iter().enumerate() {
        let p = format!("0.resnet.layer{}.0", l + 1);
        add(format!("{p}.conv1.weight"), vec![c, cin, 3, 3]);
        bn(&mut add, &format!("{p}.bn1"), c);
        add(format!("{p}.conv2.weight"), vec![c, c, 3, 3]);
        bn(&mut add, &format!("{p}.bn2"), c);
        if l > 0 {
            add(format!("{p}.downsample.0.weight"), vec![c, cin, 1, 1]);
            bn(&mut add, &format!("{p}.downsample.1"), c);
        }
        cin = c;
    }
    add("0.resnet.fc.weight".into(), vec![7, 10]);
    for map in ["cmap", "paf"] {
        let mut c = 10;
        for i in 0..ups {
            add(format!("1.{map}_up.{}.weight", 3 * i), vec![c, 6, 4, 4]);
            add(format!("1.{map}_up.{}.bias", 3 * i), vec![6]);
            bn(&mut add, &format!("1.{map}_up.{}", 3 * i + 1), 6);
            c = 6;
        }
    }
    for (map, out) in [("cmap", 5), ("paf", 8)] {
        add(format!("1.{map}_att.weight"), vec![6, 6, 3, 3]);
        add(format!("1.{map}_att.bias"), vec![6]);
        add(format!("1.{map}_conv.weight"), vec![out, 6, 1, 1]);
        add(format!("1.{map}_conv.bias"), vec![out]);
    }
    e
}
