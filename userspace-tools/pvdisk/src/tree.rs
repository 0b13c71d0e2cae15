// SPDX-License-Identifier: GPL-2.0

//! The VDI forest: every VDI with its snapshots, and under each snapshot
//! the VDIs cloned from it. Rendered as text or as Graphviz dot.

use crate::error::Result;
use crate::format::snaplog::SnapEntry;
use crate::format::vdi::VdiRecord;
use crate::json::Json;
use crate::store::Store;
use crate::units::{fmt_size, fmt_time};
use std::fmt::Write;

/// One VDI of the forest.
#[derive(Debug, Clone)]
pub struct TreeVdi {
    /// Its record.
    pub rec: VdiRecord,
    /// Its snapshots, oldest first, each with the clones made from it.
    pub snaps: Vec<(u64, SnapEntry, Vec<TreeVdi>)>,
}

/// Builds the forest of live VDIs. Clones whose parent VDI is gone are
/// roots of their own trees. A VDI whose snapshot log is damaged is shown
/// without snapshots (check reports the damage).
pub fn forest(store: &Store) -> Result<Vec<TreeVdi>> {
    let live = store.live_vdis();
    let mut snaps = std::collections::HashMap::new();
    for (slot, r) in &live {
        snaps.insert(r.id, store.snapshots(*slot).unwrap_or_default());
    }
    fn build(
        r: &VdiRecord,
        live: &[(u32, VdiRecord)],
        snaps: &std::collections::HashMap<u64, Vec<(u64, SnapEntry)>>,
    ) -> TreeVdi {
        let mut out = TreeVdi {
            rec: *r,
            snaps: Vec::new(),
        };
        for (seq, e) in snaps.get(&r.id).cloned().unwrap_or_default() {
            let kids = live
                .iter()
                .filter(|(_, c)| c.parent == r.id && c.parent_seq == seq)
                .map(|(_, c)| build(c, live, snaps))
                .collect();
            out.snaps.push((seq, e, kids));
        }
        out
    }
    let roots = live
        .iter()
        .filter(|(_, r)| {
            r.parent == 0
                || !live.iter().any(|(_, p)| {
                    p.id == r.parent && r.parent_seq >= 1 && r.parent_seq <= p.snap_count
                })
        })
        .map(|(_, r)| build(r, &live, &snaps))
        .collect();
    Ok(roots)
}

/// Renders the forest as indented text.
pub fn render_text(forest: &[TreeVdi]) -> String {
    let mut s = String::new();
    for v in forest {
        text_vdi(&mut s, v, "", None);
    }
    s
}

fn text_vdi(s: &mut String, v: &TreeVdi, prefix: &str, branch: Option<bool>) {
    let (me, below) = match branch {
        None => (String::new(), String::new()),
        Some(last) => (
            format!("{}{}", prefix, if last { "└── " } else { "├── " }),
            format!("{}{}", prefix, if last { "    " } else { "│   " }),
        ),
    };
    let _ = writeln!(
        s,
        "{}{}  ({}, id {})",
        me,
        v.rec.name(),
        fmt_size(v.rec.size),
        v.rec.id
    );
    let n = v.snaps.len();
    for (i, (seq, e, kids)) in v.snaps.iter().enumerate() {
        let last = i + 1 == n;
        let label = if e.label().is_empty() {
            String::new()
        } else {
            format!("  {}", e.label())
        };
        let deleted = if e.is_deleted() { "  (deleted)" } else { "" };
        let _ = writeln!(
            s,
            "{}{}{}@{}  {}{}{}",
            below,
            if last { "└── " } else { "├── " },
            v.rec.name(),
            seq,
            fmt_time(e.timestamp),
            label,
            deleted
        );
        let kid_prefix = format!("{}{}", below, if last { "    " } else { "│   " });
        let k = kids.len();
        for (j, kid) in kids.iter().enumerate() {
            text_vdi(s, kid, &kid_prefix, Some(j + 1 == k));
        }
    }
}

/// The forest as JSON: an array of VDIs, each
/// `{"name","id","size","snapshots":[{"name","number","time","label",
/// "deleted","clones":[VDI...]}]}`.
pub fn render_json(forest: &[TreeVdi]) -> String {
    fn vdi(v: &TreeVdi) -> Json {
        let snaps = v
            .snaps
            .iter()
            .map(|(seq, e, kids)| {
                Json::Obj(vec![
                    ("name", Json::str(format!("{}@{}", v.rec.name(), seq))),
                    ("number", Json::Num(*seq)),
                    ("time", Json::Num(e.timestamp)),
                    (
                        "label",
                        Json::opt_str((!e.label().is_empty()).then(|| e.label())),
                    ),
                    ("deleted", Json::Bool(e.is_deleted())),
                    ("clones", Json::Arr(kids.iter().map(vdi).collect())),
                ])
            })
            .collect();
        Json::Obj(vec![
            ("name", Json::str(v.rec.name())),
            ("id", Json::Num(v.rec.id)),
            ("size", Json::Num(v.rec.size)),
            ("snapshots", Json::Arr(snaps)),
        ])
    }
    let mut s = Json::Arr(forest.iter().map(vdi).collect()).render();
    s.push('\n');
    s
}

fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Renders the forest as a Graphviz digraph: each VDI is a chain of its
/// snapshots (ellipses, oldest first) ending in its live head (a box); a
/// clone hangs off the snapshot it was made from.
pub fn render_dot(forest: &[TreeVdi]) -> String {
    let mut s = String::from(
        "digraph pvdisk {\n  rankdir=LR;\n  node [fontname=\"Helvetica\", fontsize=10];\n  edge [fontname=\"Helvetica\", fontsize=9];\n",
    );
    fn vdi(s: &mut String, v: &TreeVdi) -> String {
        let head = format!("vdi{}", v.rec.id);
        let _ = writeln!(
            s,
            "  {} [shape=box, style=\"rounded,filled\", fillcolor=\"#cfe2ff\", label=\"{}\\n{}\"];",
            head,
            dot_escape(v.rec.name()),
            fmt_size(v.rec.size)
        );
        let mut first = head.clone();
        let mut prev: Option<String> = None;
        for (seq, e, kids) in &v.snaps {
            let id = format!("s{}_{}", v.rec.id, seq);
            let label = if e.label().is_empty() {
                format!("{}@{}", dot_escape(v.rec.name()), seq)
            } else {
                format!(
                    "{}@{}\\n{}",
                    dot_escape(v.rec.name()),
                    seq,
                    dot_escape(e.label())
                )
            };
            let style = if e.is_deleted() {
                "style=dashed, color=gray50, fontcolor=gray50"
            } else {
                "style=filled, fillcolor=\"#fff3cd\""
            };
            let _ = writeln!(
                s,
                "  {} [shape=ellipse, {}, label=\"{}\"];",
                id, style, label
            );
            match &prev {
                Some(p) => {
                    let _ = writeln!(s, "  {} -> {};", p, id);
                }
                None => first = id.clone(),
            }
            for kid in kids {
                let kid_first = vdi(s, kid);
                let _ = writeln!(
                    s,
                    "  {} -> {} [style=dashed, label=\"clone\"];",
                    id, kid_first
                );
            }
            prev = Some(id);
        }
        if let Some(p) = prev {
            let _ = writeln!(s, "  {} -> {};", p, head);
        }
        first
    }
    for v in forest {
        vdi(&mut s, v);
    }
    s.push_str("}\n");
    s
}
