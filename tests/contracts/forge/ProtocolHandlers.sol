// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {CheatBase} from "./Base.sol";
import {ProtocolWorld, Trace} from "./ProtocolWorld.sol";
import {NodeCertRegistry} from "../../../contracts/NodeCertRegistry.sol";
import {ReputationRegistry} from "../../../contracts/ReputationRegistry.sol";
import {AIJobManager} from "../../../contracts/AIJobManager.sol";
import {ProofOfCompute} from "../../../contracts/ProofOfCompute.sol";
import {ModelRegistry} from "../../../contracts/ModelRegistry.sol";
import {ArthaDIDRegistry} from "../../../contracts/ArthaDIDRegistry.sol";
import {VerificationManager} from "../../../contracts/VerificationManager.sol";
import {DisputeGame} from "../../../contracts/DisputeGame.sol";
import {INodeCertRegistry} from "../../../contracts/interfaces/INodeCertRegistry.sol";
import {IAIJobManager} from "../../../contracts/interfaces/IAIJobManager.sol";

/// @notice What both handlers share: the world, its contracts, and call helpers.
abstract contract HandlerBase is CheatBase {
    using Trace for Trace.T;

    ProtocolWorld public immutable world;
    NodeCertRegistry internal immutable registry;
    ReputationRegistry internal immutable reputation;
    AIJobManager internal immutable jobs;
    ProofOfCompute internal immutable proofs;
    ModelRegistry internal immutable models;
    ArthaDIDRegistry internal immutable dids;
    VerificationManager internal immutable verification;
    DisputeGame internal immutable disputes;

    constructor(ProtocolWorld world_) {
        world = world_;
        registry = world_.registry();
        reputation = world_.reputation();
        jobs = world_.jobs();
        proofs = world_.proofs();
        models = world_.models();
        dids = world_.dids();
        verification = world_.verification();
        disputes = world_.disputes();
    }

    /// @dev Settlements advanced by raw calls since the last handler are checked and cached first.
    modifier synced() {
        world.sync();
        _;
    }

    /// @dev A call that may or may not go through (adversarial, or anyone's permissionless call).
    function _try(address from, address target, bytes memory data) internal returns (bool ok, bytes memory ret) {
        vm.prank(from);
        (ok, ret) = target.call(data);
    }

    /// @dev An honest actor's call, made only when it must succeed.
    function _must(address from, address target, bytes memory data, string memory what)
        internal
        returns (bool ok, bytes memory ret)
    {
        return world.honestCall(from, target, data, 0, what);
    }

    /// @dev A call the protocol must refuse: if it goes through, that is a violation.
    function _refused(address from, address target, bytes memory data, uint256 value, string memory what)
        internal
        returns (bool refused)
    {
        vm.prank(from);
        (bool ok,) = target.call{value: value}(data);
        if (ok) world.violate(what, data);
        else world.bump("adv.rejected");
        return !ok;
    }

    function _status(bytes32 job) internal view returns (IAIJobManager.JobStatus) {
        return jobs.roundInfo(job).status;
    }

    /// @dev The `i`-th entry after `seed` in a list of `n` (no overflow for any fuzzed seed).
    function _at(uint256 seed, uint256 i, uint256 n) internal pure returns (uint256) {
        return (seed % n + i) % n;
    }

    function _pickHonestJob(uint256 seed) internal view returns (bool found, bytes32 job) {
        uint256 n = world.honestJobCount();
        if (n == 0) return (false, bytes32(0));
        return (true, world.honestJobs(seed % n));
    }
}

/// @notice The honest side that is not a node: the coordinator (assigns, groups, closes rounds
/// with the honest aggregate, settles redundancy, draws spot checks and committees, challenges,
/// arbitrates, reassigns silent nodes, finalizes after the delay), the honest job owner, the
/// attester, honest identities, anyone's permissionless upkeep, and time (`warp`, after the
/// honest nodes reacted).
contract CoordinatorHandler is HandlerBase {
    using Trace for Trace.T;

    /// @notice At most this many honest jobs per run, this many of them running at once.
    uint256 public constant MAX_HONEST_JOBS = 6;
    uint256 public constant MAX_RUNNING_JOBS = 3;
    /// @notice Time moves at most this much per step: less than the shortest response window
    /// (DisputeGame.moveWindow, 30 minutes), so an online honest node always answers in time.
    uint256 public constant MAX_WARP = 20 minutes;

    address internal immutable coordinator;
    address internal immutable owner;
    /// @dev What each committee request fixed (keyed by job and round), for the draw to repeat.
    mapping(bytes32 key => bytes32[] candidates) internal _requestedCandidates;
    mapping(bytes32 key => uint256[] weights) internal _requestedWeights;
    mapping(bytes32 key => uint256 blockNumber) internal _requestedAt;
    mapping(bytes32 commit => uint256 issued) internal _challengesOf;

    constructor(ProtocolWorld world_) HandlerBase(world_) {
        coordinator = world_.coordinator();
        owner = world_.owner();
    }

    /// @notice The honest owner submits a job (escrowing its budget); the coordinator assigns
    /// task groups that each hold an honest strict majority (2-3 honest nodes, fewer adversarial
    /// ones). One job in eight is cancelled before assignment instead.
    function submitJob(uint256 fuzzed) external synced {
        uint256 n = world.honestJobCount();
        if (n >= MAX_HONEST_JOBS) return;
        uint256 running;
        for (uint256 i = 0; i < n; ++i) {
            if (_status(world.honestJobs(i)) == IAIJobManager.JobStatus.Running) ++running;
        }
        if (running >= MAX_RUNNING_JOBS) return;
        uint256 seed = uint256(keccak256(abi.encode(fuzzed))); // every bit below is random
        bytes32[] memory hs = _liveHonest();
        bytes32[] memory as_ = _liveAdversarial();
        _shuffle(hs, seed);
        _shuffle(as_, seed >> 32);
        uint256 groups = 1 + (seed >> 64) % 3;
        if (groups * 2 > hs.length) groups = hs.length / 2;
        if (groups == 0) return;
        bytes32[] memory picked = new bytes32[](world.MAX_JOB_NODES());
        uint32[] memory gs = new uint32[](picked.length);
        n = 0;
        uint256 hi;
        uint256 ai;
        for (uint256 g = 1; g <= groups; ++g) {
            uint256 h = 2;
            if ((seed >> (70 + g)) & 1 == 1 && hs.length - hi >= 2 * (groups - g) + 3) h = 3;
            uint256 a = (seed >> (80 + 4 * g)) % h; // fewer than the honest members
            for (uint256 k = 0; k < h; ++k) {
                (picked[n], gs[n]) = (hs[hi++], uint32(g));
                ++n;
            }
            for (uint256 k = 0; k < a && ai < as_.length && n < picked.length - 1; ++k) {
                (picked[n], gs[n]) = (as_[ai++], uint32(g));
                ++n;
            }
        }
        assembly ("memory-safe") {
            mstore(picked, n)
            mstore(gs, n)
        }
        uint32 rounds = uint32(2 + (seed >> 100) % 2);
        uint256 budget = bound(seed >> 104, 5 ether, 100 ether);
        AIJobManager.TrainParams memory p;
        p.modelCid = "bafy-model";
        p.datasetCid = "bafy-data";
        p.paramsHash = keccak256(abi.encode(seed));
        p.rounds = rounds;
        p.nodesWanted = uint32(groups);
        p.redundancy = 5; // a group holds at most 3 honest + 2 adversarial nodes
        uint256 rate = (seed >> 170) % 3;
        p.baseRatePerSecond = rate == 0 ? 1e9 : rate == 1 ? 1e14 : 1e17;
        p.targetImprovementBps = (seed >> 172) & 1 == 1 ? 100 : 0;
        p.stepsPerRound = world.STEPS();
        p.samplesPerStep = uint32(1 + (seed >> 180) % 300);
        p.secondsPerStep = uint32(1 + (seed >> 190) % 60);
        world.fund(owner, budget);
        vm.prank(owner);
        (bool ok, bytes memory ret) = address(jobs).call{value: budget}(abi.encodeCall(jobs.submitTrain, (p)));
        if (!ok) return world.violate("honest submitTrain reverted", ret);
        bytes32 job = abi.decode(ret, (bytes32));
        world.addJob(job, true, rounds, uint8(groups), budget);
        if ((seed >> 200) % 8 == 0) {
            (ok,) = _must(owner, address(jobs), abi.encodeCall(jobs.cancelJob, (job)), "honest cancelJob");
            if (ok) world.cancelled(job);
            world.bump("job.cancelled");
            return;
        }
        _must(coordinator, address(jobs), abi.encodeCall(jobs.assign, (job, picked)), "coordinator assign");
        _must(
            coordinator,
            address(verification),
            abi.encodeCall(verification.setTaskGroups, (job, picked, gs)),
            "coordinator setTaskGroups"
        );
        world.addMembers(job, picked);
        world.bump("job.honest");
        world.bumpBy("job.adversarialMembers", ai);
    }

    /// @notice An honest node holding a task commits its honest result for the open round.
    function honestCommit(uint256 jobSeed, uint256 nodeSeed) external synced {
        (bool found, bytes32 job) = _pickHonestJob(jobSeed);
        if (!found) return;
        bytes32[] memory ns = jobs.nodesOf(job);
        for (uint256 i = 0; i < ns.length; ++i) {
            if (world.honestCommit(job, ns[_at(nodeSeed, i, ns.length)])) return;
        }
    }

    /// @notice Closes the open round of a running job whose honest nodes all committed (the
    /// coordinator waits for them) with the honest aggregate, and reports the accuracy before the
    /// last one.
    function closeRound(uint256 jobSeed, uint256 improvement) external synced {
        uint256 n = world.honestJobCount();
        for (uint256 i = 0; i < n; ++i) {
            bytes32 job = world.honestJobs(_at(jobSeed, i, n));
            IAIJobManager.RoundInfo memory info = jobs.roundInfo(job);
            if (info.status != IAIJobManager.JobStatus.Running || !_honestCommitted(job, info.currentRound)) continue;
            uint32 round = info.currentRound;
            if (round + 1 == world.jobRec(job).rounds && improvement % 3 != 0) {
                _must(
                    coordinator,
                    address(jobs),
                    abi.encodeCall(jobs.reportAccuracy, (job, uint32(improvement % 300))),
                    "coordinator reportAccuracy"
                );
            }
            (bool ok,) = _must(
                coordinator,
                address(jobs),
                abi.encodeCall(jobs.closeRound, (job, round, "bafy-checkpoint", Trace.aggregate(job, round))),
                "coordinator closeRound"
            );
            if (!ok) return;
            world.bump("round.closed");
            bytes32 model = world.honestModel();
            if (model != bytes32(0)) {
                (ok,) = _must(
                    coordinator,
                    address(models),
                    abi.encodeCall(
                        models.addCheckpoint,
                        (model, world.ghostCheckpoints() + 1, "bafy-checkpoint", Trace.aggregate(job, round))
                    ),
                    "publisher addCheckpoint"
                );
                if (ok) world.checkpointAdded();
            }
            return;
        }
    }

    /// @notice Settles by redundancy a closed round of a task group that has a majority.
    function settleRedundancy(uint256 seed) external synced {
        uint256 n = world.honestJobCount();
        for (uint256 i = 0; i < n; ++i) {
            bytes32 job = world.honestJobs(_at(seed, i, n));
            uint32 open = proofs.openRoundOf(job);
            uint8 groups = world.jobRec(job).groups;
            for (uint32 r = 0; r < open; ++r) {
                for (uint32 g = 1; g <= groups; ++g) {
                    if (verification.settledOf(job, r, g) != bytes32(0)) continue;
                    (bytes32 majority, uint256 count, uint256 committed, bool consensus) =
                        verification.groupMajority(job, r, g);
                    if (!consensus) continue;
                    if (majority != Trace.honest(job, r, g).result()) {
                        world.violate("a task group's majority is not the honest result", "");
                    }
                    (bool ok,) = _must(
                        coordinator,
                        address(verification),
                        abi.encodeCall(verification.settleRedundancy, (job, r, g)),
                        "settleRedundancy with a majority"
                    );
                    if (ok) {
                        world.bump("redundancy.settled");
                        world.bumpBy("redundancy.outliersSlashed", committed - count);
                    }
                    return;
                }
            }
        }
    }

    /// @notice Draws the spot check of a closed round (after its closing block), and the committee
    /// of a spot-checked round: the coordinator asks for it over the job's nodes (at most 10, so
    /// all eligible ones serve), and a later call, in a later block, draws it.
    function drawSpotCheck(uint256 seed) external synced {
        uint256 n = world.honestJobCount();
        for (uint256 i = 0; i < n; ++i) {
            bytes32 job = world.honestJobs(_at(seed, i, n));
            uint32 open = proofs.openRoundOf(job);
            for (uint32 r = 0; r < open; ++r) {
                (bool drawn, bool selected) = verification.spotCheckOf(job, r);
                if (!drawn) {
                    if (block.number <= proofs.closedBlockOf(job, r)) continue;
                    (bool ok, bytes memory ret) = _must(
                        coordinator,
                        address(verification),
                        abi.encodeCall(verification.drawSpotCheck, (job, r)),
                        "drawSpotCheck after the closing block"
                    );
                    if (!ok) return;
                    world.bump("spotcheck.drawn");
                    selected = abi.decode(ret, (bool));
                }
                if (!selected) continue;
                (, uint64 deadline) = verification.committeeOf(job, r);
                if (deadline != 0) continue;
                bytes32 key = keccak256(abi.encode(job, r));
                if (_requestedAt[key] == 0) {
                    bytes32[] memory candidates = jobs.nodesOf(job);
                    (bool asked, bytes memory ret) = _must(
                        coordinator,
                        address(verification),
                        abi.encodeCall(verification.requestCommittee, (job, r, candidates, 10)),
                        "requestCommittee of a spot-checked round"
                    );
                    if (asked) {
                        _requestedCandidates[key] = candidates;
                        _requestedWeights[key] = abi.decode(ret, (uint256[]));
                        _requestedAt[key] = block.number;
                        world.bump("committee.requested");
                    }
                    return;
                }
                if (block.number <= _requestedAt[key]) return;
                (bool drew,) = _must(
                    coordinator,
                    address(verification),
                    abi.encodeCall(
                        verification.drawCommittee, (job, r, _requestedCandidates[key], _requestedWeights[key], 10)
                    ),
                    "drawCommittee of a requested committee"
                );
                if (drew) {
                    world.addCommittee(job, r);
                    world.bump("committee.drawn");
                }
                return;
            }
        }
    }

    /// @notice The coordinator challenges a committed round of any node: a chunk, a gradient
    /// sample (1-5% of `chunkCount` chunks) or a step.
    function challenge(uint256 seed, uint8 kind, uint256 chunkCount, uint256 sampleBps) external synced {
        (bool found, bytes32 job) = _pickHonestJob(seed);
        if (!found || !proofs.verificationOpen(job)) return;
        bytes32[] memory ns = jobs.nodesOf(job);
        if (ns.length == 0) return;
        uint256 open = proofs.openRoundOf(job);
        // Rounds the chain still challenges: at most CHALLENGE_ROUNDS behind the open one.
        uint256 oldest = open > verification.CHALLENGE_ROUNDS() ? open - verification.CHALLENGE_ROUNDS() : 0;
        uint32 round = uint32(oldest + (seed >> 16) % (open - oldest + 1));
        for (uint256 i = 0; i < ns.length; ++i) {
            bytes32 node = ns[_at(seed >> 8, i, ns.length)];
            if (proofs.resultOf(job, round, node) == bytes32(0)) continue;
            bytes memory data;
            kind %= 3;
            if (kind == 0) {
                data = abi.encodeCall(verification.issueChallenge, (job, round, node));
            } else if (kind == 1) {
                data = abi.encodeCall(verification.issueStepChallenge, (job, round, node));
            } else {
                chunkCount = bound(chunkCount, 1, 1_200);
                sampleBps = bound(sampleBps, 100, 500);
                data = abi.encodeCall(
                    verification.requestGradientSample, (job, round, node, chunkCount, sampleBps)
                );
            }
            // A commit gets at most three challenges (a chunk, a step, a sample): a fourth must be
            // refused, or a verifier could spend the node's balance on answers.
            bytes32 commit = keccak256(abi.encode(job, round, node));
            if (_challengesOf[commit] >= 3) {
                _refused(coordinator, address(verification), data, 0, "a fourth challenge of one commit");
                return;
            }
            (bool ok, bytes memory ret) = _must(coordinator, address(verification), data, "coordinator challenge");
            if (ok) {
                _challengesOf[commit] += 1;
                world.addChallenge(abi.decode(ret, (uint256)));
                world.bump(world.kindOf(node) == world.HONEST_KIND() ? bytes32("challenge.honest") : bytes32("challenge.adv"));
            }
            return;
        }
    }

    /// @notice The coordinator arbitrates an unresolved dispute: it recomputes the one disputed
    /// step with the deterministic kernel (here: the honest trace of the task group), or for one a
    /// missed window sent here the round's committed result.
    function arbitrate(uint256 seed) external synced {
        uint256[] memory live = world.liveDisputes();
        for (uint256 i = 0; i < live.length; ++i) {
            uint256 id = live[_at(seed, i, live.length)];
            DisputeGame.Dispute memory d = disputes.disputeOf(id);
            if (d.phase != DisputeGame.Phase.Unresolved || block.timestamp > d.deadline) continue;
            Trace.T memory t = Trace.honest(d.jobId, d.round, verification.groupOf(d.jobId, d.challenger));
            bytes32 right = d.byResult ? Trace.result(t) : t.s[d.hi];
            (bool ok,) = _must(
                coordinator, address(disputes), abi.encodeCall(disputes.arbitrate, (id, right)), "coordinator arbitrate"
            );
            if (ok) world.bump("dispute.arbitrated");
            return;
        }
    }

    /// @notice Anyone may settle a completed job after the settlement delay, in batches.
    function finalize(uint256 seed, uint256 batch) external synced {
        uint256 n = world.honestJobCount();
        for (uint256 i = 0; i < n; ++i) {
            bytes32 job = world.honestJobs(_at(seed, i, n));
            IAIJobManager.JobTerms memory t = jobs.termsOf(job);
            if (t.status != IAIJobManager.JobStatus.Completed) continue;
            if (block.timestamp < uint256(t.completedAt) + proofs.settlementDelay()) continue;
            // Open challenges, disputes and attestations end first (upkeep times them out).
            if (proofs.openCasesOf(job) != 0) continue;
            uint256 size = jobs.nodesOf(job).length;
            _must(
                coordinator,
                address(proofs),
                abi.encodeCall(proofs.finalizeBatch, (job, bound(batch, 1, size + 1))),
                "finalizeBatch after the delay"
            );
            return;
        }
    }

    /// @notice Moves the task of a silent adversarial node to an honest node outside the job, in
    /// its place in the task group (which keeps its honest majority).
    function reassign(uint256 seed) external synced {
        uint256 n = world.honestJobCount();
        for (uint256 i = 0; i < n; ++i) {
            bytes32 job = world.honestJobs(_at(seed, i, n));
            if (_status(job) != IAIJobManager.JobStatus.Running) continue;
            bytes32[] memory ns = jobs.nodesOf(job);
            if (ns.length >= world.MAX_JOB_NODES()) continue;
            for (uint256 k = 0; k < ns.length; ++k) {
                bytes32 from = ns[k];
                if (world.kindOf(from) != world.ADV_KIND() || !jobs.isAssigned(job, from) || registry.isLive(from)) {
                    continue;
                }
                bytes32 to = _freeHonest(job, seed);
                if (to == bytes32(0)) return;
                (bool ok,) = _must(
                    coordinator, address(jobs), abi.encodeCall(jobs.reassign, (job, from, to)), "coordinator reassign"
                );
                if (!ok) return;
                bytes32[] memory one = new bytes32[](1);
                one[0] = to;
                _must(
                    coordinator,
                    address(verification),
                    abi.encodeCall(verification.replaceInGroup, (job, from, to)),
                    "coordinator replaceInGroup on reassign"
                );
                world.addMembers(job, one);
                world.bump("job.reassigned");
                return;
            }
        }
    }

    /// @notice Anyone's upkeep once windows passed: challenge timeouts and releases, dispute
    /// timeouts, expiry, attestation settlement, missed heartbeats of silent adversarial nodes.
    function upkeep(uint256 seed) external synced {
        address keeper = coordinator;
        for (uint256 i = world.challengeCount(); i > 0; --i) {
            uint256 id = world.challenges(i - 1);
            VerificationManager.Challenge memory c = verification.challengeOf(id);
            if (block.timestamp <= c.deadline) continue;
            if (c.status == VerificationManager.Status.Answered) {
                // The validation window passed: the answer stops holding the job's settlement.
                (bool released,) = _try(keeper, address(verification), abi.encodeCall(verification.release, (id)));
                if (released) world.bump("challenge.released");
                continue;
            }
            if (c.status != VerificationManager.Status.Open) continue;
            (bool ok,) = _try(keeper, address(verification), abi.encodeCall(verification.timeout, (id)));
            if (ok) world.bump("challenge.timedOut");
        }
        uint256[] memory live = world.liveDisputes();
        for (uint256 i = 0; i < live.length; ++i) {
            DisputeGame.Dispute memory d = disputes.disputeOf(live[i]);
            if (block.timestamp <= d.deadline) continue;
            if (d.phase == DisputeGame.Phase.AwaitDefence || d.phase == DisputeGame.Phase.Bisecting) {
                (bool ok,) = _try(keeper, address(disputes), abi.encodeCall(disputes.timeout, (live[i])));
                if (ok) world.bump("dispute.timedOut");
            } else if (d.phase == DisputeGame.Phase.Unresolved) {
                (bool ok,) = _try(keeper, address(disputes), abi.encodeCall(disputes.expire, (live[i])));
                if (ok) world.bump("dispute.expired");
            }
        }
        uint256 cs = world.committeeCount();
        if (cs > 0) _settleCommittee(world.committee(seed % cs));
        for (uint256 i = 0; i < world.ADV_NODES(); ++i) {
            bytes32 key = world.aKey(i);
            if (!world.registered(key)) continue;
            (bool ok,) = _try(keeper, address(registry), abi.encodeCall(registry.reportMissedHeartbeats, (key)));
            if (ok) world.bump("heartbeat.missReported");
        }
    }

    function _settleCommittee(ProtocolWorld.Committee memory cm) internal {
        (, uint64 deadline) = verification.committeeOf(cm.job, cm.round);
        bytes32[] memory targets = jobs.nodesOf(cm.job);
        for (uint256 t = 0; t < targets.length; ++t) {
            if (proofs.resultOf(cm.job, cm.round, targets[t]) == bytes32(0)) continue;
            if (verification.outcomeOf(cm.job, cm.round, targets[t]) != VerificationManager.Outcome.None) continue;
            (, uint256 agreeing, uint256 eligible) = verification.attestationMajority(cm.job, cm.round, targets[t]);
            if (agreeing * 2 <= eligible && block.timestamp <= deadline) continue;
            (bool ok, bytes memory ret) = _try(
                coordinator,
                address(verification),
                abi.encodeCall(verification.settleAttestations, (cm.job, cm.round, targets[t]))
            );
            if (!ok) continue;
            VerificationManager.Outcome o = abi.decode(ret, (VerificationManager.Outcome));
            if (o == VerificationManager.Outcome.Faked) world.bump("attestation.faked");
            else if (o == VerificationManager.Outcome.Honest) world.bump("attestation.honest");
            else world.bump("attestation.undecided");
        }
    }

    /// @notice Honest accounts pull what they were credited; the owner (the admin, the treasury
    /// of old) asking for the burned stake by the removed payout's selector is refused.
    function withdraw(uint256 seed) external synced {
        address[] memory who = new address[](world.HONEST() + 2);
        for (uint256 i = 0; i < world.HONEST(); ++i) {
            who[i] = world.hOp(i);
        }
        who[world.HONEST()] = owner;
        who[world.HONEST() + 1] = world.admin();
        for (uint256 k = 0; k < who.length; ++k) {
            address a = who[_at(seed, k, who.length)];
            uint256 owed = jobs.claimableOf(a);
            if (owed > 0) {
                (bool ok,) = _must(a, address(jobs), abi.encodeCall(jobs.withdraw, ()), "honest withdraw (jobs)");
                if (ok) world.withdrew(a, owed);
            }
            if (disputes.claimableOf(a) > 0) {
                _must(a, address(disputes), abi.encodeCall(disputes.withdraw, ()), "honest withdraw (bonds)");
            }
        }
        if (registry.slashPool() > 0 && seed % 4 == 0) {
            address admin = world.admin();
            bytes memory payout = abi.encodeWithSignature("withdrawSlashPool(address)", admin);
            if (_refused(admin, address(registry), payout, 0, "owner withdrew burned stake")) {
                world.bump("burned.payoutRefused");
            }
        }
    }

    /// @notice Time passes: first every honest node reacts (it is online), adversarial nodes that
    /// are not silent heartbeat, the block's hash is fixed (it seeds spot checks), then the clock
    /// moves 1 s to 20 minutes and the chain 1-3 blocks (now and then 300, past BLOCKHASH's reach).
    function warp(uint256 dt, uint256 hashSeed) external synced {
        _tick(dt, hashSeed);
    }

    /// @notice The coordinator goes silent on a running honest job. Its honest owner first tries
    /// to abandon it, which must be refused before the stall window ends; then, one time in two,
    /// the outage lasts that long (time moves 20 minutes at a step, the honest nodes reacting at
    /// each, as in `warp`, so none misses a heartbeat or an answer) and the owner (or one of its
    /// nodes' operators) abandons it: the rest of the escrow comes back at once, the committed
    /// rounds are settled as usual.
    function stall(uint256 seed) external synced {
        uint256 n = world.honestJobCount();
        for (uint256 i = 0; i < n; ++i) {
            bytes32 job = world.honestJobs(_at(seed, i, n));
            if (_status(job) != IAIJobManager.JobStatus.Running) continue;
            uint256 at = jobs.stalledAt(job);
            bytes memory abandon = abi.encodeCall(jobs.abandonJob, (job));
            // vm.getBlockTimestamp: under via-IR, block.timestamp may be read once per call.
            if (vm.getBlockTimestamp() < at) {
                _refused(owner, address(jobs), abandon, 0, "job abandoned before its stall window");
            }
            if (seed % 2 == 0) return;
            for (uint256 k = 0; vm.getBlockTimestamp() < at; ++k) {
                _tick(MAX_WARP, uint256(keccak256(abi.encode(seed, k))));
            }
            if (_status(job) != IAIJobManager.JobStatus.Running) return; // the outage is over
            // Half the time the first node's operator ends it instead (the owner is gone too).
            bytes32 first = jobs.nodesOf(job)[0];
            address by = seed % 4 == 1 ? jobs.assignedOperator(job, first) : owner;
            if (by != owner) abandon = abi.encodeCall(jobs.abandonJobAsOperator, (job, first));
            (bool ok,) = _must(by, address(jobs), abandon, "honest abandonJob");
            if (!ok) return;
            IAIJobManager.JobTerms memory t = jobs.termsOf(job);
            world.abandoned(job, t.rounds, t.budget);
            world.bump("job.abandoned");
            return;
        }
    }

    function _tick(uint256 dt, uint256 hashSeed) internal {
        uint256 height = vm.getBlockNumber();
        world.react(uint256(keccak256(abi.encode(hashSeed, height))));
        for (uint256 i = 0; i < world.ADV_NODES(); ++i) {
            bytes32 key = world.aKey(i);
            if (world.silent(key) || !world.registered(key)) continue;
            (, , bool active) = registry.standingOf(key);
            if (active) _try(world.aOp(i), address(registry), abi.encodeCall(registry.heartbeat, (key)));
        }
        vm.setBlockhash(height, keccak256(abi.encode(hashSeed, height)));
        uint256 blocks = hashSeed % 64 == 0 ? 300 : 1 + hashSeed % 3;
        vm.roll(height + blocks);
        vm.warp(vm.getBlockTimestamp() + bound(dt, 1, MAX_WARP));
        world.bump("time.warp");
    }

    /// @notice The seventh honest node joins (its operator registers it with the binding).
    function honestJoin() external synced {
        if (world.registerHonest(world.HONEST() - 1)) world.bump("node.honestJoined");
    }

    /// @notice The attester vouches for a node's hardware; its operator submits the attestation.
    function attestHardware(uint256 seed, bytes32 hwHash) external synced {
        uint256 n = world.nodeCount();
        if (n == 0) return;
        bytes32 node = world.nodes(seed % n);
        if (hwHash == bytes32(0)) hwHash = keccak256(abi.encode(seed));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(world.attesterPk(), registry.hardwareDigest(node, hwHash));
        bytes memory sig = abi.encodePacked(r, s, v);
        (bool ok,) = _must(
            registry.operatorOf(node),
            address(registry),
            abi.encodeCall(registry.verifyHardware, (node, hwHash, sig)),
            "verifyHardware with a fresh attestation"
        );
        if (ok) {
            world.addAttestation(node, hwHash, sig);
            world.bump("hardware.attested");
        }
    }

    /// @notice Honest identities: a DID bound to its key (created once), a model with the
    /// coordinator as checkpoint publisher.
    function honestIdentity(uint256 seed) external synced {
        uint256 i = seed % world.DIDS();
        if (!world.didCreated(i)) {
            (bytes32 authKey, bytes32 didHash) = world.didKey(i);
            address controller = world.hOp(i);
            bytes32 enc = world.didEnc(i);
            bytes memory proof_ = vm.signEd25519(
                "", abi.encodePacked(dids.controlDigest(didHash, controller, enc, 0)), world.didSecret(i)
            );
            (bool ok,) = _must(
                controller,
                address(dids),
                abi.encodeCall(dids.createDID, (didHash, authKey, enc, "bafy-did", proof_)),
                "honest createDID"
            );
            if (ok) {
                world.didWasCreated(i, proof_, didHash);
                world.bump("did.created");
            }
            return;
        }
        if (world.honestModel() == bytes32(0)) {
            (bool ok, bytes memory ret) = _must(
                owner, address(models), abi.encodeCall(models.registerModel, ("honest-model", bytes32(0))), "registerModel"
            );
            if (!ok) return;
            bytes32 id = abi.decode(ret, (bytes32));
            (ok,) = _must(
                owner, address(models), abi.encodeCall(models.setPublisher, (id, coordinator, true)), "setPublisher"
            );
            if (ok) world.setHonestModel(id);
        }
    }

    // ------------------------------------------------------------------------ helpers

    function _honestCommitted(bytes32 job, uint32 round) internal view returns (bool) {
        bytes32[] memory ms = world.honestMembers(job);
        for (uint256 i = 0; i < ms.length; ++i) {
            if (jobs.isAssigned(job, ms[i]) && proofs.resultOf(job, round, ms[i]) == bytes32(0)) return false;
        }
        return true;
    }

    function _liveHonest() internal view returns (bytes32[] memory hs) {
        hs = new bytes32[](world.HONEST());
        uint256 n;
        for (uint256 i = 0; i < world.HONEST(); ++i) {
            bytes32 key = world.hKey(i);
            if (world.registered(key) && registry.isLive(key)) hs[n++] = key;
        }
        assembly ("memory-safe") {
            mstore(hs, n)
        }
    }

    function _liveAdversarial() internal view returns (bytes32[] memory as_) {
        as_ = new bytes32[](world.ADV_NODES());
        uint256 n;
        for (uint256 i = 0; i < world.ADV_NODES(); ++i) {
            bytes32 key = world.aKey(i);
            if (world.registered(key) && registry.isComputeEligible(key) && registry.isLive(key)) as_[n++] = key;
        }
        assembly ("memory-safe") {
            mstore(as_, n)
        }
    }

    function _freeHonest(bytes32 job, uint256 seed) internal view returns (bytes32) {
        bytes32[] memory hs = _liveHonest();
        for (uint256 i = 0; i < hs.length; ++i) {
            bytes32 key = hs[_at(seed, i, hs.length)];
            if (jobs.assignedOperator(job, key) == address(0)) return key;
        }
        return bytes32(0);
    }

    function _shuffle(bytes32[] memory a, uint256 seed) internal pure {
        for (uint256 i = a.length; i > 1; --i) {
            uint256 j = uint256(keccak256(abi.encode(seed, i))) % i;
            (a[i - 1], a[j]) = (a[j], a[i - 1]);
        }
    }
}

/// @notice The adversaries: accounts that run adversarial nodes and jobs and make every
/// adversarial call with meaningful arguments (the ids of real jobs, nodes, rounds, disputes and
/// challenges). Calls the protocol must refuse are checked to be refused; the others may or may
/// not go through, and the invariants judge what follows.
contract AdversaryHandler is HandlerBase {
    using Trace for Trace.T;

    constructor(ProtocolWorld world_) HandlerBase(world_) {}

    /// @notice Registers another adversarial node (GPU provider, now and then Basic).
    function registerNode(uint256 seed) external synced {
        for (uint256 k = 0; k < world.ADV_NODES(); ++k) {
            uint256 i = _at(seed, k, world.ADV_NODES());
            if (world.registered(world.aKey(i))) continue;
            INodeCertRegistry.NodeRole role =
                seed % 5 == 0 ? INodeCertRegistry.NodeRole.Basic : INodeCertRegistry.NodeRole.GPUProvider;
            if (world.registerAdversarial(i, role)) world.bump("node.advRegistered");
            return;
        }
    }

    /// @notice Tries to register an honest node key under an adversarial account: with the binding
    /// signature the honest operator broadcast (a front-run replay), or with a signature by
    /// another key. Must fail.
    function squat(uint256 seed, bool replay) external synced {
        uint256 i = seed % world.HONEST();
        bytes32 key = world.hKey(i);
        address attacker = world.adv(seed >> 8);
        bytes memory sig = replay
            ? vm.signEd25519("", abi.encodePacked(registry.bindingDigest(world.hOp(i), key)), world.hSecret(i))
            : vm.signEd25519("", abi.encodePacked(registry.bindingDigest(attacker, key)), world.aSecret(seed % world.ADV_NODES()));
        uint256 value = registry.requiredStake(INodeCertRegistry.NodeRole.GPUProvider);
        world.fund(attacker, value);
        _refused(
            attacker,
            address(registry),
            abi.encodeCall(
                registry.registerNode,
                (key, INodeCertRegistry.NodeRole.GPUProvider, "x", bytes32(uint256(1)), bytes32(0), sig)
            ),
            value,
            "node key registered by someone other than its key holder's operator"
        );
        world.bump("adv.squatAttempt");
    }

    /// @notice An adversarial node's own upkeep or exit: go silent or wake up (stop or resume
    /// heartbeating), add stake, deactivate, withdraw.
    function nodeOp(uint256 seed, uint8 op, uint256 amount) external synced {
        uint256 i = seed % world.ADV_NODES();
        bytes32 key = world.aKey(i);
        if (!world.registered(key)) return;
        address who = world.aOp(i);
        op %= 4;
        if (op == 0) {
            bool quiet = !world.silent(key);
            world.setSilent(key, quiet);
            if (!quiet) _try(who, address(registry), abi.encodeCall(registry.heartbeat, (key)));
            world.bump(quiet ? bytes32("node.advSilenced") : bytes32("node.advWoke"));
        } else if (op == 1) {
            amount = bound(amount, 1, 5 ether);
            world.fund(who, amount);
            vm.prank(who);
            (bool ok,) = address(registry).call{value: amount}(abi.encodeCall(registry.addStake, (key)));
            ok;
        } else if (op == 2 && seed % 7 == 0) {
            (bool ok,) = _try(who, address(registry), abi.encodeCall(registry.deactivateNode, (key)));
            if (ok) world.bump("node.advDeactivated");
        } else if (op == 3) {
            (bool ok,) = _try(who, address(registry), abi.encodeCall(registry.withdrawStake, (key)));
            if (ok) world.bump("node.advWithdrew");
        }
    }

    /// @notice An adversarial node holding a task of a running job commits a made-up result for
    /// the open round (garbage, diverging at step k, same weights, a copy of another group, a free
    /// ride); one call in four instead tries to commit outside the open round (the next round, a
    /// closed one, or a completed job's round count), which must be refused.
    function commit(uint256 seed, uint8 mode, uint8 k, bytes32 salt, uint8 when) external synced {
        uint256 n = world.honestJobCount();
        if (n == 0) return;
        if (when % 4 == 1) return _commitOutOfRound(seed);
        for (uint256 j = 0; j < n; ++j) {
            bytes32 job = world.honestJobs(_at(seed, j, n));
            if (_status(job) != IAIJobManager.JobStatus.Running) continue;
            uint32 open = proofs.openRoundOf(job);
            bytes32[] memory ns = jobs.nodesOf(job);
            for (uint256 i = 0; i < ns.length; ++i) {
                bytes32 node = ns[_at(seed >> 8, i, ns.length)];
                if (world.kindOf(node) != world.ADV_KIND() || !jobs.isAssigned(job, node)) continue;
                if (proofs.resultOf(job, open, node) != bytes32(0)) continue;
                uint8 groups = world.jobRec(job).groups;
                uint32 group = verification.groupOf(job, node);
                ProtocolWorld.Fake memory f = ProtocolWorld.Fake({
                    set: true,
                    mode: mode % Trace.MODES,
                    k: k % 4,
                    other: uint32(1 + (uint256(salt) % groups)),
                    salt: salt == bytes32(0) ? bytes32(uint256(1)) : salt
                });
                if (f.mode == Trace.COPY && f.other == group) f.other = group % groups + 1;
                ProofOfCompute.RoundCommit memory c;
                if (f.mode == Trace.GARBAGE) {
                    c = ProofOfCompute.RoundCommit(job, open, node, f.salt, keccak256(abi.encode(f.salt)), f.salt, f.salt);
                } else {
                    c = _commitOf(job, open, node, Trace.fake(job, open, group, f.mode, f.k, f.other, f.salt));
                }
                (bool ok,) =
                    _try(jobs.assignedOperator(job, node), address(proofs), abi.encodeCall(proofs.commitRound, (c)));
                if (ok) {
                    world.setFake(job, open, node, f);
                    world.bump("commit.adv");
                }
                return;
            }
        }
    }

    function _commitOutOfRound(uint256 seed) internal {
        bytes32 job = world.honestJobs(seed % world.honestJobCount());
        bytes32[] memory ns = jobs.nodesOf(job);
        for (uint256 i = 0; i < ns.length; ++i) {
            bytes32 node = ns[_at(seed >> 8, i, ns.length)];
            if (world.kindOf(node) != world.ADV_KIND() || !jobs.isAssigned(job, node)) continue;
            uint32 open = proofs.openRoundOf(job);
            uint32 round = open >= world.jobRec(job).rounds ? open : (open > 0 && (seed >> 16) & 1 == 1 ? open - 1 : open + 1);
            Trace.T memory h = Trace.honest(job, round, verification.groupOf(job, node));
            _refused(
                jobs.assignedOperator(job, node),
                address(proofs),
                abi.encodeCall(proofs.commitRound, (_commitOf(job, round, node, h))),
                0,
                "commit accepted outside the job's open round"
            );
            world.bump("adv.commitOutOfRound");
            return;
        }
    }

    /// @notice Opens a dispute from an adversarial node of a running job (paying the bond) against
    /// a member of its task group with another result (an honest one when there is), with the
    /// step tree it made up; or tries to open one with a wrong bond.
    function openDispute(uint256 seed, uint256 victimSeed, bool wrongBond) external synced {
        uint256 n = world.honestJobCount();
        for (uint256 j = 0; j < n; ++j) {
            bytes32 job = world.honestJobs(_at(seed, j, n));
            IAIJobManager.RoundInfo memory info = jobs.roundInfo(job);
            if (info.status != IAIJobManager.JobStatus.Running) continue;
            bytes32[] memory ns = jobs.nodesOf(job);
            for (uint256 i = 0; i < ns.length; ++i) {
                bytes32 a = ns[_at(seed >> 8, i, ns.length)];
                if (world.kindOf(a) != world.ADV_KIND()) continue;
                (bool known, Trace.T memory t) = world.traceOf(job, info.currentRound, a);
                if (!known) continue;
                bytes32 victim = _victim(job, info.currentRound, a, ns, victimSeed);
                if (victim == bytes32(0)) continue;
                return _open(job, info.currentRound, a, victim, t, wrongBond);
            }
        }
    }

    /// @dev A member of `a`'s task group whose committed result differs from `a`'s, honest first.
    function _victim(bytes32 job, uint32 round, bytes32 a, bytes32[] memory ns, uint256 seed)
        internal
        view
        returns (bytes32 found)
    {
        uint32 g = verification.groupOf(job, a);
        bytes32 ra = proofs.resultOf(job, round, a);
        for (uint256 v = 0; v < ns.length; ++v) {
            bytes32 victim = ns[_at(seed, v, ns.length)];
            bytes32 rv = proofs.resultOf(job, round, victim);
            if (victim == a || verification.groupOf(job, victim) != g || rv == bytes32(0) || rv == ra) continue;
            if (world.kindOf(victim) == world.HONEST_KIND() || seed % 8 == 0) return victim;
            found = victim;
        }
    }

    function _open(bytes32 job, uint32 round, bytes32 a, bytes32 victim, Trace.T memory t, bool wrongBond) internal {
        address op = registry.operatorOf(a);
        uint256 bond = disputes.disputeBond();
        bytes memory data = abi.encodeCall(disputes.open, (job, round, a, victim, world.endsOf(t)));
        world.fund(op, bond);
        if (wrongBond) {
            _refused(op, address(disputes), data, bond / 2, "dispute opened without the bond");
            return;
        }
        vm.prank(op);
        (bool ok, bytes memory ret) = address(disputes).call{value: bond}(data);
        if (ok) {
            world.addDispute(abi.decode(ret, (uint256)));
            world.bump(
                world.kindOf(victim) == world.HONEST_KIND() ? bytes32("dispute.opened.vsHonest") : bytes32("dispute.opened.vsAdv")
            );
        } else {
            world.bump("dispute.openRefused");
        }
    }

    /// @notice Plays an adversarial side of a live dispute (defend or reveal from its made-up tree;
    /// one call in four a digest it cannot open), or tries to move for an honest side (one in four).
    function disputeMove(uint256 seed, uint8 how) external synced {
        uint256[] memory live = world.liveDisputes();
        if (live.length == 0) return;
        uint256 id = live[seed % live.length];
        DisputeGame.Dispute memory d = disputes.disputeOf(id);
        how %= 4;
        if (how == 3) {
            // Move for an honest side (or any side not the caller's): never allowed.
            bytes32 side = world.kindOf(d.defender) == world.HONEST_KIND() ? d.defender : d.challenger;
            if (world.kindOf(side) != world.HONEST_KIND()) return;
            Trace.T memory h = world.honestTrace(d.jobId, d.round, side);
            bytes memory data = d.phase == DisputeGame.Phase.AwaitDefence
                ? abi.encodeCall(disputes.defend, (id, world.endsOf(h)))
                : abi.encodeCall(disputes.reveal, (id, side == d.challenger, h.s[1], Trace.proof(Trace.stepLeaves(h), 1)));
            _refused(world.adv(seed >> 8), address(disputes), data, 0, "a dispute move made for another party");
            return;
        }
        // how 0 or 1: play the adversarial side that has to move (1 prefers the defender's).
        bool cCan = world.kindOf(d.challenger) == world.ADV_KIND() && d.phase == DisputeGame.Phase.Bisecting
            && !d.challengerIn;
        bool dCan = world.kindOf(d.defender) == world.ADV_KIND()
            && (d.phase == DisputeGame.Phase.AwaitDefence || (d.phase == DisputeGame.Phase.Bisecting && !d.defenderIn));
        if (how == 2) (cCan, dCan) = (world.kindOf(d.challenger) == world.ADV_KIND(), false);
        if (!cCan && !dCan) return;
        bool challengerSide = cCan && !(how == 1 && dCan);
        bytes32 node = challengerSide ? d.challenger : d.defender;
        address op = registry.operatorOf(node);
        (bool known, Trace.T memory t) = world.traceOf(d.jobId, d.round, node);
        if (how == 2 || !known) {
            // A digest it cannot open against its root.
            bytes32[] memory junk = new bytes32[](2);
            _try(op, address(disputes), abi.encodeCall(disputes.reveal, (id, challengerSide, bytes32(seed), junk)));
            return;
        }
        if (d.phase == DisputeGame.Phase.AwaitDefence && !challengerSide) {
            world.defend(id, d, t, op, false);
        } else if (d.phase == DisputeGame.Phase.Bisecting) {
            world.reveal(id, challengerSide, t, op, false);
        }
    }

    /// @notice Answers a challenge against an adversarial node from what it committed (valid
    /// openings of made-up data) or with junk.
    function respondChallenge(uint256 seed, bool junk) external synced {
        uint256 n = world.challengeCount();
        for (uint256 i = 0; i < n; ++i) {
            uint256 id = world.challenges(_at(seed, i, n));
            VerificationManager.Challenge memory c = verification.challengeOf(id);
            if (c.status != VerificationManager.Status.Open || world.kindOf(c.nodePubkey) != world.ADV_KIND()) continue;
            address op = registry.operatorOf(c.nodePubkey);
            (bool known, Trace.T memory t) = world.traceOf(c.jobId, c.round, c.nodePubkey);
            if (junk || !known) {
                bytes[] memory chunks = new bytes[](1);
                bytes32[][] memory ps = new bytes32[][](1);
                ps[0] = new bytes32[](2);
                _try(
                    op,
                    address(verification),
                    abi.encodeCall(verification.respond, (id, bytes32(seed), bytes32(0), bytes32(0), chunks, ps))
                );
                return;
            }
            world.answer(id, c, t, op, false);
            return;
        }
    }

    /// @notice Adversarial committee members attest, racing the honest ones: a made-up hash for
    /// every other target and the committed result for fellow adversaries (collusion), each
    /// followed at once by an attempt to settle the target on that attestation.
    function attest(uint256 seed) external synced {
        uint256 n = world.committeeCount();
        if (n == 0) return;
        ProtocolWorld.Committee memory cm = world.committee(seed % n);
        (bytes32[] memory members, uint64 deadline) = verification.committeeOf(cm.job, cm.round);
        if (block.timestamp > deadline) return;
        bytes32[] memory targets = jobs.nodesOf(cm.job);
        for (uint256 m = 0; m < members.length; ++m) {
            if (world.kindOf(members[m]) != world.ADV_KIND()) continue;
            address op = registry.operatorOf(members[m]);
            for (uint256 t = 0; t < targets.length; ++t) {
                bytes32 committed = proofs.resultOf(cm.job, cm.round, targets[t]);
                if (committed == bytes32(0)) continue;
                bytes32 claim = world.kindOf(targets[t]) == world.ADV_KIND()
                    ? committed
                    : keccak256(abi.encode("lie", seed, targets[t]));
                (bool ok,) = _try(
                    op,
                    address(verification),
                    abi.encodeCall(verification.attest, (cm.job, cm.round, members[m], targets[t], claim))
                );
                if (!ok) continue;
                world.bump("attest.adv");
                // Race the honest validators: settle at once, on the lie alone.
                (ok,) = _try(
                    op,
                    address(verification),
                    abi.encodeCall(verification.settleAttestations, (cm.job, cm.round, targets[t]))
                );
                if (ok) world.bump("attestation.settledByAdv");
            }
        }
    }

    /// @notice Permissionless calls made early, twice or out of order: what the protocol must
    /// refuse is checked to be refused; what it may accept is allowed and judged by the invariants.
    function early(uint256 seed, uint8 which) external synced {
        (bool found, bytes32 job) = _pickHonestJob(seed);
        if (!found) return;
        address who = world.adv(seed >> 8);
        uint32 open = proofs.openRoundOf(job);
        uint8 groups = world.jobRec(job).groups;
        which %= 7;
        if (which == 0) {
            // Redundancy over the open round: its commits are not final.
            uint32 g = uint32(1 + (seed >> 16) % groups);
            if (open < world.jobRec(job).rounds) {
                _refused(
                    who,
                    address(verification),
                    abi.encodeCall(verification.settleRedundancy, (job, open, g)),
                    0,
                    "settleRedundancy of a round still open"
                );
            }
            if (open > 0) {
                (bool ok,) = _try(
                    who, address(verification), abi.encodeCall(verification.settleRedundancy, (job, open - 1, g))
                );
                if (ok) world.bump("redundancy.settledByAdv");
            }
        } else if (which == 1) {
            // Spot check of the open round, or of a closed one (in its closing block: refused).
            uint32 r = open == 0 ? 0 : uint32((seed >> 16) % (uint256(open) + 1));
            uint256 closed = proofs.closedBlockOf(job, r);
            (bool drawn,) = verification.spotCheckOf(job, r);
            bytes memory data = abi.encodeCall(verification.drawSpotCheck, (job, r));
            if (!drawn && (closed == 0 || block.number <= closed)) {
                _refused(who, address(verification), data, 0, "spot check drawn before its round's closing block");
            } else {
                (bool ok,) = _try(who, address(verification), data);
                if (ok) world.bump("spotcheck.drawnByAdv");
            }
        } else if (which == 2) {
            IAIJobManager.JobTerms memory t = jobs.termsOf(job);
            bytes memory data = abi.encodeCall(proofs.finalize, (job));
            if (
                t.status != IAIJobManager.JobStatus.Completed
                    || block.timestamp < uint256(t.completedAt) + proofs.settlementDelay()
            ) {
                _refused(who, address(proofs), data, 0, "finalize before completion plus the settlement delay");
            } else {
                (bool ok,) = _try(who, address(proofs), abi.encodeCall(proofs.finalizeBatch, (job, 1 + seed % 3)));
                if (ok) world.bump("finalize.byAdv");
            }
        } else if (which == 3) {
            uint256 n = world.challengeCount();
            if (n == 0) return;
            uint256 id = world.challenges(seed % n);
            VerificationManager.Challenge memory c = verification.challengeOf(id);
            bytes memory data = abi.encodeCall(verification.timeout, (id));
            if (c.status != VerificationManager.Status.Open || block.timestamp <= c.deadline) {
                _refused(who, address(verification), data, 0, "challenge timed out early or twice");
            } else {
                (bool ok,) = _try(who, address(verification), data);
                if (ok) world.bump("challenge.timedOutByAdv");
            }
        } else if (which == 4 || which == 5) {
            uint256 n = world.disputeCount();
            if (n == 0) return;
            uint256 id = world.disputeIds(seed % n);
            DisputeGame.Dispute memory d = disputes.disputeOf(id);
            bool waiting = d.phase == DisputeGame.Phase.AwaitDefence || d.phase == DisputeGame.Phase.Bisecting;
            bytes memory data =
                which == 4 ? abi.encodeCall(disputes.timeout, (id)) : abi.encodeCall(disputes.expire, (id));
            bool allowed = block.timestamp > d.deadline
                && (which == 4 ? waiting : d.phase == DisputeGame.Phase.Unresolved);
            if (!allowed) {
                _refused(who, address(disputes), data, 0, "dispute timed out or expired early, or twice");
            } else {
                (bool ok,) = _try(who, address(disputes), data);
                if (ok) world.bump(which == 4 ? bytes32("dispute.timedOutByAdv") : bytes32("dispute.expiredByAdv"));
            }
        } else {
            uint256 n = world.committeeCount();
            if (n == 0) return;
            ProtocolWorld.Committee memory cm = world.committee(seed % n);
            bytes32[] memory targets = jobs.nodesOf(cm.job);
            bytes32 target = targets[(seed >> 16) % targets.length];
            (bool ok,) = _try(
                who, address(verification), abi.encodeCall(verification.settleAttestations, (cm.job, cm.round, target))
            );
            if (ok) world.bump("attestation.settledByAdv");
        }
    }

    /// @notice Reports copycats over closed rounds: an adversary that committed another group's
    /// result (caught once its own group's round settled), or an honest node named as the copier of
    /// a node that copied it (must be refused).
    function copycat(uint256 seed) external synced {
        uint256 n = world.honestJobCount();
        address who = world.adv(seed);
        for (uint256 j = 0; j < n; ++j) {
            bytes32 job = world.honestJobs(_at(seed, j, n));
            uint32 open = proofs.openRoundOf(job);
            bytes32[] memory ns = jobs.nodesOf(job);
            for (uint32 r = 0; r < open && r < world.jobRec(job).rounds; ++r) {
                for (uint256 i = 0; i < ns.length; ++i) {
                    ProtocolWorld.Fake memory f = world.fakeOf(job, r, ns[i]);
                    if (!f.set || f.mode != Trace.COPY) continue;
                    bytes32 original = _memberWith(job, r, ns, f.other, proofs.resultOf(job, r, ns[i]));
                    if (original == bytes32(0)) continue;
                    if ((seed >> 8) % 3 == 0 && world.kindOf(original) == world.HONEST_KIND()) {
                        _refused(
                            who,
                            address(verification),
                            abi.encodeCall(verification.reportCopycat, (job, r, original, ns[i])),
                            0,
                            "honest node reported as a copycat"
                        );
                        return;
                    }
                    (bool ok,) =
                        _try(who, address(verification), abi.encodeCall(verification.reportCopycat, (job, r, ns[i], original)));
                    if (ok) {
                        world.bump("copycat.caught");
                        return;
                    }
                }
            }
        }
    }

    /// @dev A member of task group `group` that committed `result` in `round`.
    function _memberWith(bytes32 job, uint32 round, bytes32[] memory ns, uint32 group, bytes32 result)
        internal
        view
        returns (bytes32)
    {
        for (uint256 i = 0; i < ns.length; ++i) {
            if (verification.groupOf(job, ns[i]) == group && proofs.resultOf(job, round, ns[i]) == result) return ns[i];
        }
        return bytes32(0);
    }

    /// @notice Replays an old hardware attestation (every one stored was used, so its nonce is
    /// spent), or the high-s twin of one. Must fail.
    function replayAttestation(uint256 seed, bool twin) external synced {
        uint256 n = world.attestationCount();
        if (n == 0) return;
        ProtocolWorld.Attestation memory a = world.attestation(seed % n);
        bytes memory sig = a.sig;
        if (twin) {
            bytes32 r;
            bytes32 s;
            uint8 v;
            assembly ("memory-safe") {
                r := mload(add(sig, 32))
                s := mload(add(sig, 64))
                v := byte(0, mload(add(sig, 96)))
            }
            uint256 order = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
            sig = abi.encodePacked(r, bytes32(order - uint256(s)), v == 27 ? uint8(28) : uint8(27));
        }
        _refused(
            world.adv(seed),
            address(registry),
            abi.encodeCall(registry.verifyHardware, (a.node, a.hwHash, sig)),
            0,
            "hardware attestation replayed"
        );
        world.bump("adv.attestationReplay");
    }

    /// @notice Attacks on honest identities: create the honest DID from another account with the
    /// honest key proof (replay), rotate, re-own, revoke or edit it; write to the honest model.
    function identity(uint256 seed, uint8 which) external synced {
        address who = world.adv(seed);
        which %= 6;
        if (which == 0) {
            if (world.lastDidHash() != bytes32(0)) {
                (bytes32 authKey,) = world.didKey(seed % world.DIDS());
                _refused(
                    who,
                    address(dids),
                    abi.encodeCall(
                        dids.createDID,
                        (keccak256(abi.encodePacked(authKey)), authKey, world.lastDidEnc(), "evil", world.lastDidProof())
                    ),
                    0,
                    "DID created with a replayed key proof"
                );
            } else {
                // Front-run: the honest proof for the honest controller, sent from another account.
                uint256 i = seed % world.DIDS();
                (bytes32 authKey, bytes32 didHash) = world.didKey(i);
                bytes memory proof_ = vm.signEd25519(
                    "",
                    abi.encodePacked(dids.controlDigest(didHash, world.hOp(i), world.didEnc(i), 0)),
                    world.didSecret(i)
                );
                _refused(
                    who,
                    address(dids),
                    abi.encodeCall(dids.createDID, (didHash, authKey, world.didEnc(i), "evil", proof_)),
                    0,
                    "DID front-run with the honest key proof"
                );
            }
            return;
        }
        uint256 d = seed % world.DIDS();
        if (!world.didCreated(d) && which < 4) return;
        (, bytes32 h) = world.didKey(d);
        if (which == 1) {
            _refused(who, address(dids), abi.encodeCall(dids.changeOwner, (h, who)), 0, "honest DID re-owned");
        } else if (which == 2) {
            _refused(who, address(dids), abi.encodeCall(dids.revokeDID, (h)), 0, "honest DID revoked");
        } else if (which == 3) {
            (bytes32 k2, bytes32 s2) = vm.createEd25519Key(keccak256(abi.encode("evil-key", seed)));
            bytes memory proof_ =
                vm.signEd25519("", abi.encodePacked(dids.controlDigest(h, who, bytes32(seed), 1)), s2);
            _refused(
                who,
                address(dids),
                abi.encodeCall(dids.rotateKeys, (h, k2, bytes32(seed | 1), "", proof_)),
                0,
                "honest DID keys rotated"
            );
        } else {
            bytes32 model = world.honestModel();
            if (model == bytes32(0)) return;
            bytes memory data = which == 4
                ? abi.encodeCall(models.addCheckpoint, (model, type(uint64).max, "evil", bytes32(seed)))
                : abi.encodeCall(models.publishModel, (model, "evil", bytes32(seed)));
            _refused(who, address(models), data, 0, "honest model written by another account");
        }
    }

    /// @notice An adversarial job owner: submits a job, assigns honest and adversarial nodes to
    /// it, cancels, tries to reassign away live honest nodes or close rounds.
    function advJob(uint256 seed, uint8 which) external synced {
        address who = world.adv(seed);
        which %= 4;
        if (which == 0 || world.advJobCount() == 0) {
            if (world.advJobCount() >= 4) return;
            uint256 budget = bound(seed, 1, 3 ether);
            AIJobManager.TrainParams memory p;
            p.modelCid = "m";
            p.datasetCid = "d";
            p.paramsHash = bytes32(seed);
            p.rounds = 2;
            p.nodesWanted = 4;
            p.redundancy = 2;
            p.baseRatePerSecond = 1e12;
            p.stepsPerRound = world.STEPS();
            p.samplesPerStep = 8;
            p.secondsPerStep = 2;
            world.fund(who, budget);
            vm.prank(who);
            (bool ok, bytes memory ret) = address(jobs).call{value: budget}(abi.encodeCall(jobs.submitTrain, (p)));
            if (!ok) return;
            world.addJob(abi.decode(ret, (bytes32)), false, 2, 0, budget);
            world.bump("job.adv");
            return;
        }
        bytes32 job = world.advJobs(seed % world.advJobCount());
        address jobOwner = jobs.termsOf(job).owner;
        if (which == 1) {
            // Only the coordinator assigns: the adversary cannot place nodes (its own among
            // them) on its own job, so it cancels it.
            bytes32[] memory two = new bytes32[](2);
            two[0] = world.hKey(seed % world.INITIAL_HONEST());
            two[1] = world.aKey(seed % world.ADV_NODES());
            _refused(jobOwner, address(jobs), abi.encodeCall(jobs.assign, (job, two)), 0, "job owner assigned nodes");
            world.bump("job.advAssignRefused");
            _try(jobOwner, address(jobs), abi.encodeCall(jobs.cancelJob, (job)));
        } else if (which == 2) {
            (bool hf, bytes32 hj) = _pickHonestJob(seed);
            bytes32 victim = world.hKey(seed % world.INITIAL_HONEST());
            if (hf) {
                _refused(
                    who,
                    address(jobs),
                    abi.encodeCall(jobs.reassign, (hj, victim, world.aKey(0))),
                    0,
                    "task reassigned on an honest job by a stranger"
                );
            }
            _refused(
                jobOwner,
                address(jobs),
                abi.encodeCall(jobs.reassign, (job, victim, world.aKey(1))),
                0,
                "live honest node reassigned away"
            );
        } else {
            _refused(
                jobOwner,
                address(jobs),
                abi.encodeCall(jobs.closeRound, (job, 0, "x", bytes32(seed | 1))),
                0,
                "round closed by a job owner"
            );
        }
    }

    /// @notice Calls that only the coordinator, the owner or a linked contract may make, with
    /// real ids and honest targets. Must all be refused.
    function unauthorised(uint256 seed, uint8 which) external synced {
        address who = world.adv(seed);
        bytes32 victim = world.hKey(seed % world.INITIAL_HONEST());
        (, bytes32 job) = _pickHonestJob(seed);
        bytes32[] memory one = new bytes32[](1);
        uint32[] memory g = new uint32[](1);
        one[0] = world.aKey(0);
        g[0] = 1;
        bytes memory data;
        address target;
        which %= 16;
        if (which == 0) {
            (target, data) = (address(registry), abi.encodeCall(registry.slashBps, (victim, 10_000, INodeCertRegistry.SlashReason.Cheating, true)));
        } else if (which == 1) {
            (target, data) = (address(registry), abi.encodeCall(registry.slashNode, (victim, 1, INodeCertRegistry.SlashReason.FailedJob, false)));
        } else if (which == 2) {
            (target, data) = (address(proofs), abi.encodeCall(proofs.penalise, (job, victim, 10_000, INodeCertRegistry.SlashReason.Cheating, true)));
        } else if (which == 3) {
            (target, data) = (address(proofs), abi.encodeCall(proofs.setQuality, (job, victim, 0)));
        } else if (which == 4) {
            (target, data) = (address(jobs), abi.encodeCall(jobs.credit, (job, who, 1)));
        } else if (which == 5) {
            (target, data) = (address(jobs), abi.encodeCall(jobs.markFinalized, (job)));
        } else if (which == 6) {
            (target, data) = (address(reputation), abi.encodeCall(reputation.recordSlash, (victim)));
        } else if (which == 7) {
            (target, data) = (address(verification), abi.encodeCall(verification.setTaskGroups, (job, one, g)));
        } else if (which == 8) {
            (target, data) = (address(verification), abi.encodeCall(verification.issueChallenge, (job, 0, victim)));
        } else if (which == 9) {
            (target, data) = (address(verification), abi.encodeCall(verification.penaliseFor, (job, victim, 10_000, INodeCertRegistry.SlashReason.Cheating, true)));
        } else if (which == 10) {
            uint256 n = world.disputeCount();
            (target, data) = (address(disputes), abi.encodeCall(disputes.arbitrate, (n == 0 ? 1 : world.disputeIds(seed % n), bytes32(seed))));
        } else if (which == 11) {
            (target, data) = (address(jobs), abi.encodeCall(jobs.reportAccuracy, (job, 10_000)));
        } else if (which == 12) {
            (target, data) = (address(registry), abi.encodeCall(registry.setHeartbeatInterval, (1)));
        } else if (which == 13) {
            (target, data) = (address(proofs), abi.encodeCall(proofs.openCase, (job)));
        } else if (which == 14) {
            (target, data) = (address(proofs), abi.encodeCall(proofs.closeCase, (job)));
        } else {
            (target, data) = (address(proofs), abi.encodeCall(proofs.setSettlementDelay, (0)));
        }
        _refused(who, target, data, 0, "restricted call made by an adversary");
    }

    /// @notice Adversaries pull what they were credited (bonds back, refunds of their jobs).
    function withdraw(uint256 seed) external synced {
        address who = world.adv(seed);
        if (jobs.claimableOf(who) > 0) _try(who, address(jobs), abi.encodeCall(jobs.withdraw, ()));
        if (disputes.claimableOf(who) > 0) {
            (bool ok,) = _try(who, address(disputes), abi.encodeCall(disputes.withdraw, ()));
            if (ok) world.bump("adv.bondWithdrawn");
        }
    }

    function _commitOf(bytes32 job, uint32 round, bytes32 node, Trace.T memory t)
        internal
        pure
        returns (ProofOfCompute.RoundCommit memory)
    {
        return ProofOfCompute.RoundCommit({
            jobId: job,
            round: round,
            nodePubkey: node,
            lossDigest: t.loss,
            gradientDigest: t.grad,
            weightsDigest: t.weights,
            proofsRoot: t.stepsRoot
        });
    }
}
