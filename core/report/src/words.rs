//! Plain words for the store's stable names: signals, detectors, ATT&CK ids,
//! enforcement. The store keeps names and numbers; the sentences that explain
//! them to a person live here, next to the page that shows them.

use std::collections::BTreeMap;

use nightjar_detect::Detector;

/// What a signal measures, in words; unknown names are shown as they are.
pub fn signal(name: &str) -> &str {
    match name {
        "ngram_surprisal" => {
            "how unusual its letter sequences are for a real name (bits per character)"
        }
        "ngram_surprisal_total" => "how unusual the whole name is for a real name (bits)",
        "length" => "length of the name's main label",
        "digit_ratio" => "share of digits in the name",
        "vowel_ratio" => "share of vowels among its letters",
        "max_consonant_run" => "longest run of consonants",
        "char_entropy" => "randomness of its characters (bits)",
        "rare_trigram_ratio" => "share of letter triples rarely seen in real names",
        "dga_likelihood_ratio" => {
            "how much better a model of generated names explains it (bits per character)"
        }
        "dga_likelihood_ratio_total" => "evidence that the name was machine-generated (bits)",
        "dga_probability" => "probability that the name was machine-generated",
        "idn_not_scored" => "internationalised name, not scored by the name model",
        "interval_skew" => "how evenly spaced its connections are",
        "interval_madm" => "how little the spacing of its connections varies (jitter)",
        "interval_coverage" => "how much of the period the regular connections fill",
        "size_skew" => "how evenly sized its connections are",
        "size_madm" => "how little the size of its connections varies",
        "median_interval_s" => "typical time between connections (seconds)",
        "nxdomain_distinct" => "distinct names that did not exist (NXDOMAIN)",
        "longest_label" => "longest label under the domain (characters)",
        "subdomain_digit_ratio" => "share of digits in its subdomains",
        "subdomain_entropy" => "randomness of its subdomains (bits)",
        "unique_subdomains" => "distinct subdomains queried",
        "unseen_domain" => "never contacted by any app on this device before",
        "low_reputation" => "the domain has a low reputation",
        "seconds_after_install" => "seconds after the app was installed",
        "seconds_after_update" => "seconds after the app was updated",
        "new_protocol_for_app" => "a protocol this app had not used before",
        "cleartext_web" => "unencrypted web traffic",
        "unlisted_port" => "a port outside the app's usual ones",
        "ioc_ip" => "the address is listed by a threat-intelligence feed",
        "ioc_domain" => "the name is listed by a threat-intelligence feed",
        "ioc_dns_answer" => "a DNS answer is listed by a threat-intelligence feed",
        "new_registrable_device" => "first contact with this domain from any app on the device",
        "new_name_device" => "first contact with this exact name on the device",
        "app_baseline_known" => "the app had a learnt baseline",
        "shared_infrastructure" => "hosted on shared infrastructure (CDN, cloud)",
        "app_first_run" => "the app's first network activity",
        other => other,
    }
}

/// What a detector looks for, in words.
pub fn detector(name: &str) -> &str {
    match name {
        "dga" => "machine-generated domain name (DGA)",
        "beacon" => "regular callbacks (beaconing)",
        "nxdomain_burst" => "burst of lookups for names that do not exist",
        "dns_tunnel" => "data hidden in DNS queries (tunnelling)",
        "first_seen" => "first contact with a never-seen domain",
        "post_install" => "contact right after install or update",
        "ioc" => "listed by threat intelligence",
        "baseline_deviation" => "behaviour outside the app's learnt baseline",
        other => other,
    }
}

/// What a relay did to enforce a block.
pub fn enforcement(name: &str) -> &str {
    match name {
        "dns_nxdomain" => "DNS answered \"no such name\" (NXDOMAIN)",
        "dns_sinkhole" => "DNS answered with a sinkhole address",
        "tcp_reset" => "connection reset (TCP RST)",
        "icmp_unreachable" => "ICMP unreachable sent",
        other => other,
    }
}

/// ATT&CK / D3FEND ids to names, from the detectors' own references.
pub fn attack_names() -> BTreeMap<&'static str, &'static str> {
    [
        Detector::Dga,
        Detector::Beacon,
        Detector::NxdomainBurst,
        Detector::DnsTunnel,
        Detector::FirstSeen,
        Detector::PostInstall,
        Detector::Ioc,
        Detector::BaselineDeviation,
    ]
    .into_iter()
    .flat_map(Detector::attack)
    .map(|r| (r.id, r.name))
    .collect()
}

/// `tcp`, `udp`, … for an IP protocol number.
pub fn proto(p: u8) -> String {
    match p {
        1 => "icmp".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        58 => "icmpv6".into(),
        132 => "sctp".into(),
        n => n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attack_names_come_from_the_detectors() {
        let names = attack_names();
        assert_eq!(names.get("DC0113"), Some(&"Network Communication"));
        assert!(
            names
                .get("T1637.001")
                .is_some_and(|n| n.contains("Domain Generation"))
        );
    }

    #[test]
    fn unknown_names_stay_as_they_are() {
        assert_eq!(signal("brand_new_signal"), "brand_new_signal");
        assert_eq!(detector("x"), "x");
    }
}
