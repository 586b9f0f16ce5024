//! Gradient-boosted decision trees over the DGA features
//! ([`crate::dga_features`]): the shipped model's combiner, evaluated in plain
//! Rust (the trees are trained offline by `tools/train_dga_trees.py`).
//!
//! Each node stores the model's expected logit at that node, so a prediction
//! splits into per-feature contributions (the Saabas decomposition: walking
//! from the root to the leaf, each split's feature is credited with the
//! change in expected logit it caused). They sum, with the roots' values, to
//! the logit, and an alert lists the positive ones as its reasons.

use crate::dga::ModelError;
use crate::dga_features::N_FEATURES;

/// Marks a leaf in [`Node::feature`].
pub const LEAF: u8 = u8::MAX;
/// Bytes of one serialised node.
pub const NODE_BYTES: usize = 13;
/// Most nodes a forest may hold (node indices are `u16`).
pub const MAX_NODES: usize = u16::MAX as usize;

/// One node: a split on `x[feature] <= threshold` (left) or a leaf.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Node {
    /// Feature index, or [`LEAF`].
    pub feature: u8,
    /// Split threshold (unused in a leaf).
    pub threshold: f32,
    /// Child taken when `x[feature] <= threshold`.
    pub left: u16,
    /// Child taken otherwise.
    pub right: u16,
    /// Expected logit contribution of this tree at this node (the leaf's
    /// output for a leaf).
    pub value: f32,
}

/// A boosted ensemble: trees stored one after another, each starting at its
/// root index.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Forest {
    roots: Vec<u16>,
    nodes: Vec<Node>,
}

impl Forest {
    /// Builds a forest, checking that every split names a known feature,
    /// every child lies after its parent inside the node array (so a walk
    /// always ends) and every number is finite.
    pub fn new(roots: Vec<u16>, nodes: Vec<Node>) -> Result<Self, ModelError> {
        if nodes.len() > MAX_NODES {
            return Err(ModelError::Parameter("forest node count"));
        }
        for &r in &roots {
            if usize::from(r) >= nodes.len() {
                return Err(ModelError::Parameter("forest root"));
            }
        }
        for (i, n) in nodes.iter().enumerate() {
            if !n.value.is_finite() {
                return Err(ModelError::Parameter("forest node value"));
            }
            if n.feature == LEAF {
                continue;
            }
            let ok = usize::from(n.feature) < N_FEATURES
                && n.threshold.is_finite()
                && [n.left, n.right]
                    .iter()
                    .all(|&c| usize::from(c) > i && usize::from(c) < nodes.len());
            if !ok {
                return Err(ModelError::Parameter("forest split"));
            }
        }
        Ok(Self { roots, nodes })
    }

    /// Number of trees.
    pub fn trees(&self) -> usize {
        self.roots.len()
    }

    /// Number of nodes.
    pub fn nodes(&self) -> usize {
        self.nodes.len()
    }

    /// Sum of the trees' outputs for `x`.
    #[inline]
    pub fn logit(&self, x: &[f32; N_FEATURES]) -> f32 {
        let mut sum = 0.0;
        for &root in &self.roots {
            let mut i = usize::from(root);
            while let Some(n) = self.nodes.get(i) {
                if n.feature == LEAF {
                    sum += n.value;
                    break;
                }
                let v = x.get(usize::from(n.feature)).copied().unwrap_or(0.0);
                i = usize::from(if v <= n.threshold { n.left } else { n.right });
            }
        }
        sum
    }

    /// The expected output over the training data (sum of the roots'
    /// values): the logit before any feature is looked at.
    pub fn expected(&self) -> f32 {
        self.roots
            .iter()
            .filter_map(|&r| self.nodes.get(usize::from(r)))
            .map(|n| n.value)
            .sum()
    }

    /// Per-feature contributions for `x`; with [`Forest::expected`] they sum
    /// to [`Forest::logit`].
    pub fn contributions(&self, x: &[f32; N_FEATURES]) -> [f32; N_FEATURES] {
        let mut out = [0.0; N_FEATURES];
        for &root in &self.roots {
            let mut i = usize::from(root);
            while let Some(n) = self.nodes.get(i) {
                if n.feature == LEAF {
                    break;
                }
                let f = usize::from(n.feature);
                let v = x.get(f).copied().unwrap_or(0.0);
                i = usize::from(if v <= n.threshold { n.left } else { n.right });
                if let (Some(child), Some(o)) = (self.nodes.get(i), out.get_mut(f)) {
                    *o += child.value - n.value;
                }
            }
        }
        out
    }

    /// Serialised size in bytes.
    pub fn byte_len(&self) -> usize {
        8 + 2 * self.roots.len() + NODE_BYTES * self.nodes.len()
    }

    /// Appends the serialised forest: tree and node counts (`u32`), roots
    /// (`u16`), nodes (feature `u8`, threshold `f32`, left and right `u16`,
    /// value `f32`), little-endian.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.roots.len() as u32).to_le_bytes());
        out.extend_from_slice(&(self.nodes.len() as u32).to_le_bytes());
        for r in &self.roots {
            out.extend_from_slice(&r.to_le_bytes());
        }
        for n in &self.nodes {
            out.push(n.feature);
            out.extend_from_slice(&n.threshold.to_le_bytes());
            out.extend_from_slice(&n.left.to_le_bytes());
            out.extend_from_slice(&n.right.to_le_bytes());
            out.extend_from_slice(&n.value.to_le_bytes());
        }
    }

    /// Reads a forest written by [`Forest::write`] from the start of
    /// `bytes`; returns it and the bytes after it.
    pub fn read(bytes: &[u8]) -> Result<(Self, &[u8]), ModelError> {
        let short = ModelError::Parameter("forest truncated");
        let u32_at = |b: &[u8], at: usize| -> Option<usize> {
            let s: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
            Some(u32::from_le_bytes(s) as usize)
        };
        let n_trees = u32_at(bytes, 0).ok_or(short.clone())?;
        let n_nodes = u32_at(bytes, 4).ok_or(short.clone())?;
        if n_nodes > MAX_NODES || n_trees > n_nodes.max(1) {
            return Err(ModelError::Parameter("forest node count"));
        }
        let roots_end = 8 + 2 * n_trees;
        let end = roots_end + NODE_BYTES * n_nodes;
        let body = bytes.get(8..end).ok_or(short)?;
        let (root_bytes, node_bytes) = body.split_at(2 * n_trees);
        let roots = root_bytes
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes(arr(c, 0)))
            .collect();
        let nodes = node_bytes
            .chunks_exact(NODE_BYTES)
            .map(|c| Node {
                feature: c.first().copied().unwrap_or(LEAF),
                threshold: f32::from_le_bytes(arr(c, 1)),
                left: u16::from_le_bytes(arr(c, 5)),
                right: u16::from_le_bytes(arr(c, 7)),
                value: f32::from_le_bytes(arr(c, 9)),
            })
            .collect();
        let rest = bytes.get(end..).unwrap_or(&[]);
        Ok((Self::new(roots, nodes)?, rest))
    }
}

/// `N` bytes of `b` from `at` (zeros if short: callers pass whole chunks).
fn arr<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    b.get(at..at + N)
        .and_then(|s| s.try_into().ok())
        .unwrap_or([0; N])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(value: f32) -> Node {
        Node {
            feature: LEAF,
            threshold: 0.0,
            left: 0,
            right: 0,
            value,
        }
    }

    fn stump(feature: u8, threshold: f32, base: u16, lo: f32, hi: f32) -> [Node; 3] {
        [
            Node {
                feature,
                threshold,
                left: base + 1,
                right: base + 2,
                value: (lo + hi) / 2.0,
            },
            leaf(lo),
            leaf(hi),
        ]
    }

    #[test]
    fn logit_and_contributions_agree() {
        let mut nodes = stump(0, 1.0, 0, -1.0, 3.0).to_vec();
        nodes.extend(stump(2, 5.0, 3, 0.5, -0.5));
        let f = Forest::new(vec![0, 3], nodes).unwrap();
        let mut x = [0.0; N_FEATURES];
        x[0] = 2.0;
        x[2] = 1.0;
        assert_eq!(f.logit(&x), 3.5);
        let c = f.contributions(&x);
        assert_eq!(c[0], 2.0);
        assert_eq!(c[2], 0.5);
        assert!((f.expected() + c.iter().sum::<f32>() - f.logit(&x)).abs() < 1e-6);
        let mut bytes = Vec::new();
        f.write(&mut bytes);
        bytes.push(7);
        assert_eq!(bytes.len(), f.byte_len() + 1);
        let (back, rest) = Forest::read(&bytes).unwrap();
        assert_eq!(back, f);
        assert_eq!(rest, &[7]);
    }

    #[test]
    fn rejects_cycles_unknown_features_and_truncation() {
        let mut nodes = stump(0, 1.0, 0, -1.0, 3.0).to_vec();
        nodes[0].left = 0;
        assert!(Forest::new(vec![0], nodes.clone()).is_err());
        nodes[0].left = 1;
        nodes[0].feature = N_FEATURES as u8;
        assert!(Forest::new(vec![0], nodes.clone()).is_err());
        nodes[0].feature = 0;
        nodes[1].value = f32::NAN;
        assert!(Forest::new(vec![0], nodes.clone()).is_err());
        nodes[1].value = 0.0;
        assert!(Forest::new(vec![5], nodes.clone()).is_err());
        let f = Forest::new(vec![0], nodes).unwrap();
        let mut bytes = Vec::new();
        f.write(&mut bytes);
        for cut in 0..bytes.len() {
            assert!(Forest::read(&bytes[..cut]).is_err(), "cut {cut}");
        }
    }
}
