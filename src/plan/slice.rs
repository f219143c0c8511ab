//! Shards (`--shard I/N`, see `shard`): the slice of the whole plan a
//! shard runs — its clients renumbered, its groups' connect rates divided,
//! the faults that name none of its clients left out, share groups split
//! across shards left to the merge.

use super::group::GroupPlan;
use super::model::{ClientPlan, Plan, StreamPlan};
use super::shard;
use super::streams::{find_shares, find_streams};

/// The whole plan's indices of the clients shard `id` runs, in order.
pub fn global_indices(plan: &Plan, id: shard::ShardId) -> Vec<u32> {
    plan.groups
        .iter()
        .flat_map(|g| {
            (0..g.clients).filter(move |k| shard::owner(*k, id.count) == id.index).map(move |k| g.first_client + k)
        })
        .collect()
}

/// The slice of `plan` that shard `id` runs.
pub fn slice(plan: Plan, id: shard::ShardId) -> Plan {
    let global = global_indices(&plan, id);
    let mut local_of = vec![u32::MAX; plan.clients.len()];
    for (l, g) in global.iter().enumerate() {
        local_of[*g as usize] = l as u32;
    }
    let groups: Vec<std::sync::Arc<GroupPlan>> =
        plan.groups.iter().map(|g| std::sync::Arc::new(slice_group(g, id, &local_of))).collect();
    let clients: Vec<ClientPlan> = global
        .iter()
        .enumerate()
        .map(|(l, g)| ClientPlan { index: l as u32, ..plan.clients[*g as usize].clone() })
        .collect();
    let publishers: Vec<u32> = clients.iter().filter(|c| c.publisher.is_some()).map(|c| c.index).collect();
    let all_shares = find_shares(&plan.clients);
    let mut shares = find_shares(&clients);
    let shares_elsewhere: Vec<String> = shares
        .iter()
        .filter(|s| all_shares.iter().any(|a| a.filter == s.filter && a.members.len() != s.members.len()))
        .map(|s| s.filter.clone())
        .collect();
    shares.retain(|s| !shares_elsewhere.contains(&s.filter));
    let streams: Vec<StreamPlan> = find_streams(&groups, &clients, &shares);
    let faults = plan.faults.iter().filter_map(|f| f.sliced(&local_of)).collect();
    let mut expect = plan.expect.clone();
    // A whole-run figure: only the merge can check it.
    expect.received_min = None;
    Plan {
        shard: Some(shard::ShardSlice {
            id,
            global,
            all_client_ids: plan.clients.iter().map(|c| c.client_id.clone()).collect(),
            publishers_total: plan.publishers.len() as u32,
            shares_elsewhere,
        }),
        groups,
        clients,
        publishers,
        streams,
        shares,
        faults,
        expect,
        ..plan
    }
}

/// A group's part on shard `id`: its clients renumbered, its connect rate
/// divided among the shards (so all of them together connect at the
/// scenario's rate).
fn slice_group(g: &GroupPlan, id: shard::ShardId, local_of: &[u32]) -> GroupPlan {
    let mine: Vec<u32> = (0..g.clients)
        .filter(|k| shard::owner(*k, id.count) == id.index)
        .map(|k| local_of[(g.first_client + k) as usize])
        .collect();
    let first_client = mine.first().copied().unwrap_or(0);
    GroupPlan {
        first_client,
        clients: mine.len() as u32,
        connect_rate: g.connect_rate.map(|r| r / id.count as f64),
        slice: Some(id),
        ..g.clone()
    }
}
