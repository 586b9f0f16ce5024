//! Chart geometry: time to x in a 1000-unit wide SVG row. The template only
//! places the shapes computed here.

use std::collections::{BTreeSet, HashMap};

use nightjar_store::{ActivityBin, AlertRow, AppRow, FirstContact};

use crate::page::{Mark, Rect, Tick, Timeline, TimelineRow};
use crate::when;

/// Width of a timeline row in SVG units.
pub const WIDTH: u32 = 1_000;
/// Height of the contact bars.
const BAR_MAX: f64 = 16.0;
const BASELINE: u32 = 22;

/// Maps `[start, end)` onto `0..=WIDTH`.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    start: u64,
    end: u64,
}

impl Scale {
    pub fn new(start: u64, end: u64) -> Self {
        Scale {
            start,
            end: end.max(start.saturating_add(1)),
        }
    }

    /// x of `t`, `None` outside the period.
    pub fn x(&self, t: u64) -> Option<u32> {
        if t < self.start || t >= self.end {
            return None;
        }
        let off = u128::from(t - self.start) * u128::from(WIDTH);
        u32::try_from(off / u128::from(self.end - self.start)).ok()
    }

    fn len(&self) -> u64 {
        self.end - self.start
    }
}

fn ticks(scale: &Scale) -> Vec<Tick> {
    let long = scale.len() > 86_400_000_000;
    (0..=4u64)
        .map(|i| {
            let t = scale.start + scale.len() / 4 * i;
            Tick {
                x: u32::try_from(i).unwrap_or(0) * WIDTH / 4,
                label: if long {
                    when::datetime(t)
                } else {
                    when::clock(t)
                },
            }
        })
        .collect()
}

/// One row per key (app uid, `None` for unattributed flows).
#[allow(clippy::too_many_arguments)]
pub fn timeline(
    scale: &Scale,
    bins: u32,
    keys: &[Option<u32>],
    label: impl Fn(Option<u32>) -> String,
    activity: &[ActivityBin],
    firsts: &[FirstContact],
    alerts: &[AlertRow],
    shown_alerts: &BTreeSet<u64>,
    inventory: &HashMap<u32, AppRow>,
) -> Timeline {
    let bins = bins.max(1);
    let bin_w = WIDTH / bins;
    let max = activity.iter().map(|b| b.flows).max().unwrap_or(1).max(1);
    #[allow(clippy::cast_precision_loss)]
    let height = |n: u64| -> u32 {
        let h = BAR_MAX * ((1 + n) as f64).ln() / ((1 + max) as f64).ln();
        (h.round() as u32).clamp(2, BAR_MAX as u32)
    };
    let bin_us = scale.len() / u64::from(bins);
    let rows = keys
        .iter()
        .map(|k| {
            let flows: u64 = activity
                .iter()
                .filter(|b| b.app_uid == *k)
                .map(|b| b.flows)
                .sum();
            let contacts = activity
                .iter()
                .filter(|b| b.app_uid == *k)
                .map(|b| {
                    let h = height(b.flows);
                    Rect {
                        x: b.bin * WIDTH / bins,
                        y: BASELINE - h,
                        h,
                        title: format!(
                            "{}: {} flows",
                            when::clock(scale.start + bin_us * u64::from(b.bin)),
                            b.flows
                        ),
                    }
                })
                .collect();
            let first_contacts = firsts
                .iter()
                .filter(|f| Some(f.app_uid) == *k)
                .filter_map(|f| {
                    Some(Mark {
                        x: scale.x(f.first_us)?,
                        title: format!(
                            "{}: first contact with {}",
                            when::clock(f.first_us),
                            crate::gather::cut(&f.registrable)
                        ),
                        href: String::new(),
                    })
                })
                .collect();
            let alert_marks = alerts
                .iter()
                .filter(|a| a.app_uid == *k)
                .filter_map(|a| {
                    Some(Mark {
                        x: scale.x(a.ts_us)?,
                        title: format!(
                            "{}: {} alert ({})",
                            when::clock(a.ts_us),
                            a.detector,
                            a.domain.as_deref().unwrap_or("—")
                        ),
                        href: if shown_alerts.contains(&a.id) {
                            format!("#alert-{}", a.id)
                        } else {
                            String::new()
                        },
                    })
                })
                .collect();
            let inv = k.and_then(|k| inventory.get(&k));
            let mark = |t: Option<u64>, what: &str| {
                let t = t?;
                Some(Mark {
                    x: scale.x(t)?,
                    title: format!("{}: {what}", when::datetime(t)),
                    href: String::new(),
                })
            };
            TimelineRow {
                app_key: k.map_or_else(|| "none".to_owned(), |u| u.to_string()),
                label: label(*k),
                flows: flows.to_string(),
                contacts,
                first_contacts,
                alerts: alert_marks,
                install: mark(inv.and_then(|a| a.installed_us), "installed"),
                update: mark(
                    inv.and_then(|a| a.updated_us)
                        .filter(|u| Some(*u) != inv.and_then(|a| a.installed_us)),
                    "updated",
                ),
            }
        })
        .collect();
    Timeline {
        ticks: ticks(scale),
        rows,
        bin_note: format!(
            "Each bar is {} of flow starts (height: log of the count); bar width {bin_w} of {WIDTH}.",
            when::span(bin_us.max(1))
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_maps_the_period_onto_the_row() {
        let s = Scale::new(1_000, 2_000);
        assert_eq!(s.x(1_000), Some(0));
        assert_eq!(s.x(1_500), Some(500));
        assert_eq!(s.x(1_999), Some(999));
        assert_eq!(s.x(2_000), None);
        assert_eq!(s.x(999), None);
        // Far-apart times do not overflow.
        let wide = Scale::new(0, u64::MAX);
        assert_eq!(wide.x(u64::MAX / 2), Some(499));
    }
}
