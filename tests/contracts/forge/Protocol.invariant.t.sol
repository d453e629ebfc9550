// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test, StdInvariant, console} from "./Base.sol";
import {ProtocolWorld, Deployment} from "./ProtocolWorld.sol";
import {CoordinatorHandler, AdversaryHandler} from "./ProtocolHandlers.sol";
import {NodeCertRegistry} from "../../../contracts/NodeCertRegistry.sol";
import {ReputationRegistry} from "../../../contracts/ReputationRegistry.sol";
import {AIJobManager} from "../../../contracts/AIJobManager.sol";
import {ProofOfCompute} from "../../../contracts/ProofOfCompute.sol";
import {ModelRegistry} from "../../../contracts/ModelRegistry.sol";
import {ArthaDIDRegistry} from "../../../contracts/ArthaDIDRegistry.sol";
import {VerificationManager} from "../../../contracts/VerificationManager.sol";
import {DisputeGame} from "../../../contracts/DisputeGame.sol";

/// @notice Protocol-wide adversarial invariants over the whole deployment (the 8 contracts wired
/// as lib/chain/deploy.ts does).
///
/// Actors. Honest nodes (H0-H5, H6 joins later; one operator each) register with their binding
/// signature, heartbeat whenever time moves, commit their task group's honest result, answer every
/// challenge, defend and bisect every dispute against them, attest honestly in committees, and
/// nothing else. The honest coordinator submits the honest owner's jobs, assigns task groups that
/// each hold an honest strict majority, closes rounds with the honest aggregate once its honest
/// nodes committed, settles redundancy, draws spot checks and committees, challenges any committed
/// round, arbitrates with the honest recomputation, reassigns silent adversarial nodes to honest
/// ones and finalizes after the delay. Adversaries: four adversarial accounts run adversarial
/// nodes and jobs through AdversaryHandler with meaningful arguments (fake commits and step trees,
/// disputes against honest nodes, early/twice/out-of-order calls, copycat reports, key squatting,
/// replays, restricted calls), and four outsider accounts (the fuzzer's senders) call every
/// contract raw with fuzzed arguments (forge's dictionary feeds them real ids). Outsiders are kept
/// apart from accounts that hold ether: see ProtocolWorld._outsider. Time moves only through
/// `warp`, after the honest nodes reacted, by at most 20 minutes: an honest node is online. Honest
/// nodes finish each round's training at random times, so rounds are disputed both before and
/// after their task group's majority exists (every dispute rule is reached: majority, lateness,
/// arbiter, expiry).
///
/// Trust assumptions encoded: every task group has an honest strict majority (and at least two
/// honest members); a job has at most 10 nodes, so a drawn committee is all its eligible nodes and
/// the eligible validators of any target hold an honest majority; the coordinator (assignment,
/// groups, aggregates, arbitration) and the owner of the contracts are honest; honest nodes are
/// online (heartbeat and answer within every window). Configuration differs from the defaults
/// only where a run (hours, not days) could not reach a path otherwise: unbonding 4 hours,
/// arbitration window 2 hours, spot checks 30% of rounds.
contract ProtocolInvariantTest is Test {
    ProtocolWorld internal world;
    CoordinatorHandler internal coord;
    AdversaryHandler internal adversary;

    NodeCertRegistry internal registry;
    ReputationRegistry internal reputation;
    AIJobManager internal jobs;
    ProofOfCompute internal proofs;
    ModelRegistry internal models;
    ArthaDIDRegistry internal dids;
    VerificationManager internal verification;
    DisputeGame internal disputes;

    address internal constant ADMIN = address(0xAD000);
    address internal constant COORDINATOR = address(0xC0000);
    address internal constant OWNER = address(0x0A0000);
    uint256 internal constant ATTESTER_PK = 0xA77E57;
    string internal constant ENV = "ARTHA_PROTOCOL_INVARIANT_";

    function setUp() public {
        vm.warp(1_700_000_000);
        vm.roll(1_000);
        vm.startPrank(ADMIN);
        registry = new NodeCertRegistry();
        reputation = new ReputationRegistry();
        jobs = new AIJobManager();
        proofs = new ProofOfCompute();
        models = new ModelRegistry();
        dids = new ArthaDIDRegistry();
        verification = new VerificationManager();
        disputes = new DisputeGame();
        // Wiring of lib/chain/deploy.ts.
        registry.setReputation(address(reputation));
        registry.setAuthorised(address(proofs), true);
        reputation.setAuthorised(address(registry), true);
        reputation.setAuthorised(address(proofs), true);
        reputation.setAuthorised(address(jobs), true);
        jobs.setLinks(address(registry), address(proofs));
        proofs.setLinks(address(jobs), address(registry), address(reputation));
        verification.setLinks(address(proofs), address(registry), address(reputation), address(disputes));
        disputes.setLinks(address(proofs), address(registry), address(jobs), address(verification));
        proofs.setAuthorised(address(verification), true);
        proofs.setAuthorised(address(disputes), true);
        reputation.setAuthorised(address(verification), true);
        jobs.setAuthorised(COORDINATOR, true);
        verification.setAuthorised(COORDINATOR, true);
        disputes.setAuthorised(COORDINATOR, true);
        // Shorter than the defaults so that exits, expiry and spot checks happen within a run
        // (a run spans hours, not days); every window an honest node must meet stays >= 30 min.
        registry.setUnbondingDelay(4 hours);
        disputes.setArbitrationWindow(2 hours);
        verification.setSpotCheckBps(3_000);
        registry.setAttester(vm.addr(ATTESTER_PK), true);
        vm.stopPrank();

        world = new ProtocolWorld(
            Deployment(registry, reputation, jobs, proofs, models, dids, verification, disputes),
            ADMIN,
            COORDINATOR,
            OWNER,
            ATTESTER_PK
        );
        coord = new CoordinatorHandler(world);
        adversary = new AdversaryHandler(world);
        address[] memory extra = new address[](3);
        (extra[0], extra[1], extra[2]) = (address(coord), address(adversary), address(this));
        world.bootstrap(extra);

        _targets();
        address[] memory outsiders = world.outsiders();
        for (uint256 i = 0; i < outsiders.length; ++i) {
            targetSender(outsiders[i]);
        }
    }

    /// @dev Handler selectors are weighted by repetition (forge draws uniformly over the list);
    /// every contract is also a raw target for a handful of its external functions.
    function _targets() internal {
        bytes4[] memory c = new bytes4[](51);
        uint256 n;
        n = _add(c, n, CoordinatorHandler.submitJob.selector, 3);
        n = _add(c, n, CoordinatorHandler.honestCommit.selector, 3);
        n = _add(c, n, CoordinatorHandler.closeRound.selector, 6);
        n = _add(c, n, CoordinatorHandler.settleRedundancy.selector, 3);
        n = _add(c, n, CoordinatorHandler.drawSpotCheck.selector, 3);
        n = _add(c, n, CoordinatorHandler.challenge.selector, 4);
        n = _add(c, n, CoordinatorHandler.arbitrate.selector, 2);
        n = _add(c, n, CoordinatorHandler.finalize.selector, 4);
        n = _add(c, n, CoordinatorHandler.reassign.selector, 2);
        n = _add(c, n, CoordinatorHandler.upkeep.selector, 3);
        n = _add(c, n, CoordinatorHandler.withdraw.selector, 2);
        n = _add(c, n, CoordinatorHandler.warp.selector, 12);
        n = _add(c, n, CoordinatorHandler.honestJoin.selector, 1);
        n = _add(c, n, CoordinatorHandler.attestHardware.selector, 1);
        n = _add(c, n, CoordinatorHandler.honestIdentity.selector, 1);
        n = _add(c, n, CoordinatorHandler.stall.selector, 1);
        require(n == c.length, "coordinator selectors");
        targetContract(address(coord));
        targetSelector(StdInvariant.FuzzSelector({addr: address(coord), selectors: c}));

        bytes4[] memory a = new bytes4[](47);
        n = 0;
        n = _add(a, n, AdversaryHandler.registerNode.selector, 1);
        n = _add(a, n, AdversaryHandler.squat.selector, 1);
        n = _add(a, n, AdversaryHandler.nodeOp.selector, 3);
        n = _add(a, n, AdversaryHandler.commit.selector, 8);
        n = _add(a, n, AdversaryHandler.openDispute.selector, 7);
        n = _add(a, n, AdversaryHandler.disputeMove.selector, 6);
        n = _add(a, n, AdversaryHandler.respondChallenge.selector, 3);
        n = _add(a, n, AdversaryHandler.attest.selector, 3);
        n = _add(a, n, AdversaryHandler.early.selector, 5);
        n = _add(a, n, AdversaryHandler.copycat.selector, 2);
        n = _add(a, n, AdversaryHandler.replayAttestation.selector, 1);
        n = _add(a, n, AdversaryHandler.identity.selector, 2);
        n = _add(a, n, AdversaryHandler.advJob.selector, 2);
        n = _add(a, n, AdversaryHandler.unauthorised.selector, 2);
        n = _add(a, n, AdversaryHandler.withdraw.selector, 1);
        require(n == a.length, "adversary selectors");
        targetContract(address(adversary));
        targetSelector(StdInvariant.FuzzSelector({addr: address(adversary), selectors: a}));

        bytes4[] memory s = new bytes4[](6);
        (s[0], s[1], s[2]) = (registry.heartbeat.selector, registry.reportMissedHeartbeats.selector, registry.deactivateNode.selector);
        (s[3], s[4], s[5]) = (registry.withdrawStake.selector, registry.verifyHardware.selector, registry.slashBps.selector);
        _raw(address(registry), s);
        s = new bytes4[](8);
        (s[0], s[1], s[2]) = (jobs.assign.selector, jobs.reassign.selector, jobs.closeRound.selector);
        (s[3], s[4], s[5]) = (jobs.cancelJob.selector, jobs.withdraw.selector, jobs.credit.selector);
        (s[6], s[7]) = (jobs.abandonJob.selector, jobs.abandonJobAsOperator.selector);
        _raw(address(jobs), s);
        s = new bytes4[](4);
        (s[0], s[1], s[2], s[3]) = (proofs.commitRound.selector, proofs.finalizeBatch.selector, proofs.setQuality.selector, proofs.penalise.selector);
        _raw(address(proofs), s);
        s = new bytes4[](6);
        (s[0], s[1], s[2]) = (verification.timeout.selector, verification.settleRedundancy.selector, verification.reportCopycat.selector);
        (s[3], s[4], s[5]) = (verification.drawSpotCheck.selector, verification.settleAttestations.selector, verification.attest.selector);
        _raw(address(verification), s);
        s = new bytes4[](5);
        (s[0], s[1], s[2], s[3], s[4]) = (disputes.timeout.selector, disputes.expire.selector, disputes.reveal.selector, disputes.withdraw.selector, disputes.arbitrate.selector);
        _raw(address(disputes), s);
        s = new bytes4[](2);
        (s[0], s[1]) = (reputation.recordSlash.selector, reputation.recordProof.selector);
        _raw(address(reputation), s);
        s = new bytes4[](3);
        (s[0], s[1], s[2]) = (models.registerModel.selector, models.addCheckpoint.selector, models.publishModel.selector);
        _raw(address(models), s);
        s = new bytes4[](4);
        (s[0], s[1], s[2], s[3]) = (dids.createDID.selector, dids.rotateKeys.selector, dids.changeOwner.selector, dids.revokeDID.selector);
        _raw(address(dids), s);
    }

    function _add(bytes4[] memory list, uint256 n, bytes4 selector, uint256 weight) internal pure returns (uint256) {
        for (uint256 i = 0; i < weight; ++i) {
            list[n++] = selector;
        }
        return n;
    }

    function _raw(address target, bytes4[] memory selectors) internal {
        targetContract(target);
        targetSelector(StdInvariant.FuzzSelector({addr: target, selectors: selectors}));
    }

    // ------------------------------------------------------------------------ invariants

    /// @notice Everything, after every call (a single campaign: forge runs each invariant_
    /// function as a campaign of its own). The checks live in ProtocolWorld.checkAll, next to the
    /// ghost state they read:
    ///  0. no call the protocol must refuse went through, and no honest action was refused;
    ///  1. money: NodeCertRegistry.balance == totalStaked + slashPool, AIJobManager.balance ==
    ///     totalEscrow + totalClaimable, DisputeGame.balance == totalHeld + totalClaimable, no other
    ///     contract holds ether; each total equals the sum of its parts (node stakes, job escrows,
    ///     undecided bonds, creditors' claimables); and in the closed world ether is neither created
    ///     nor lost: sum of all balances == baseline + what was minted (in == held + out);
    ///  2. an honest node never loses stake, is never deactivated, never has an offence, and its
    ///     key stays bound to its operator (nobody squats an honest key, even before it registers);
    ///  3. an honest node never loses reward: quality 10,000 and exactly its honest commits on every
    ///     job until settlement, and its operator is credited exactly the reward spec
    ///     (ProtocolWorld.modelPays: rounds committed within the job's rounds, at the job's fixed
    ///     terms, weighted by quality; a node that committed is paid > 0);
    ///  4. the honest owner's escrow leaves a job only at settlement, and exactly the payments the
    ///     spec gives for committed work leave it: the rest comes back to the owner;
    ///  plus honest DIDs, model and hardware records stay as their owners set them.
    /// forge-config: default.invariant.runs = 20
    /// forge-config: default.invariant.depth = 500
    function invariant_protocol() public view {
        world.checkAll();
    }

    // ------------------------------------------------------------------------ call summary

    /// @notice After each run: adds the run's counters to campaign totals kept in the process
    /// environment (forge replays the last run once to show its logs; a replay is recognised by its
    /// fingerprint and not added twice) and prints them (`forge test -vv`): the last print is the
    /// campaign's call summary, which tests/contracts/forge_invariant_test.ts checks (every path
    /// marked `*` must have been taken).
    function afterInvariant() public {
        bytes32[] memory keys = _summaryKeys();
        uint256[] memory run = new uint256[](keys.length);
        for (uint256 i = 0; i < keys.length; ++i) {
            run[i] = _runValue(keys[i]);
        }
        bytes32 fingerprint = keccak256(abi.encode(run, block.number, block.timestamp, world.nodeCount()));
        bool replay = vm.envOr(string.concat(ENV, "LAST"), bytes32(0)) == fingerprint;
        uint256 runs = vm.envOr(string.concat(ENV, "RUNS"), uint256(0));
        if (!replay) {
            vm.setEnv(string.concat(ENV, "LAST"), vm.toString(fingerprint));
            vm.setEnv(string.concat(ENV, "RUNS"), vm.toString(++runs));
        }
        console.log("protocol invariant: runs so far", runs);
        uint256[] memory total = new uint256[](keys.length);
        for (uint256 i = 0; i < keys.length; ++i) {
            string memory name = string.concat(ENV, _str(keys[i]));
            total[i] = vm.envOr(name, uint256(0)) + (replay ? 0 : run[i]);
            if (!replay) vm.setEnv(name, vm.toString(total[i]));
            console.log(string.concat(_required(keys[i]) ? "  * " : "    ", _str(keys[i])), total[i]);
        }
    }

    function _summaryKeys() internal pure returns (bytes32[] memory k) {
        k = new bytes32[](51);
        uint256 n;
        k[n++] = "job.honest";
        k[n++] = "job.adversarialMembers";
        k[n++] = "job.cancelled";
        k[n++] = "job.finalized";
        k[n++] = "job.abandoned";
        k[n++] = "job.reassigned";
        k[n++] = "job.adv";
        k[n++] = "job.advAssignRefused";
        k[n++] = "round.closed";
        k[n++] = "commit.honest";
        k[n++] = "commit.adv";
        k[n++] = "adv.commitOutOfRound";
        k[n++] = "redundancy.settled";
        k[n++] = "redundancy.outliersSlashed";
        k[n++] = "redundancy.settledByAdv";
        k[n++] = "spotcheck.drawn";
        k[n++] = "committee.requested";
        k[n++] = "committee.drawn";
        k[n++] = "attest.honest";
        k[n++] = "attest.adv";
        k[n++] = "attestation.faked";
        k[n++] = "attestation.honest";
        k[n++] = "attestation.settledByAdv";
        k[n++] = "challenge.honest";
        k[n++] = "challenge.adv";
        k[n++] = "challenge.answered.honest";
        k[n++] = "challenge.answered.adv";
        k[n++] = "challenge.timedOut";
        k[n++] = "challenge.released";
        k[n++] = "dispute.opened.vsHonest";
        k[n++] = "dispute.opened.vsAdv";
        k[n++] = "dispute.openRefused";
        k[n++] = "dispute.defended.honest";
        k[n++] = "dispute.revealed.honest";
        k[n++] = "dispute.revealed.adv";
        k[n++] = "dispute.arbitrated";
        k[n++] = "dispute.timedOut";
        k[n++] = "dispute.expired";
        k[n++] = "copycat.caught";
        k[n++] = "adv.rejected";
        k[n++] = "adv.squatAttempt";
        k[n++] = "adv.attestationReplay";
        k[n++] = "finalize.byAdv";
        k[n++] = "node.advSilenced";
        k[n++] = "heartbeat.missReported";
        k[n++] = "node.advDeactivated";
        k[n++] = "node.advWithdrew";
        k[n++] = "time.warp";
        k[n++] = "adv.offences";
        k[n++] = "burned.payoutRefused";
        k[n++] = "burned.gwei";
        assert(n == k.length);
    }

    /// @dev The paths every campaign must reach (the rest are printed for information).
    function _required(bytes32 key) internal pure returns (bool) {
        return key == "job.finalized" || key == "challenge.released" || key == "commit.honest" || key == "commit.adv"
            || key == "dispute.opened.vsHonest" || key == "dispute.defended.honest" || key == "challenge.answered.honest"
            || key == "redundancy.outliersSlashed" || key == "adv.rejected" || key == "attest.honest"
            || key == "adv.offences";
    }

    function _runValue(bytes32 key) internal view returns (uint256 v) {
        if (key == "adv.offences") {
            for (uint256 i = 0; i < world.ADV_NODES(); ++i) {
                bytes32 node = world.aKey(i);
                if (!world.registered(node)) continue;
                v += registry.getNode(node).offences;
            }
            return v;
        }
        if (key == "burned.gwei") return registry.slashPool() / 1 gwei;
        return world.counter(key);
    }

    function _str(bytes32 b) internal pure returns (string memory) {
        uint256 n;
        while (n < 32 && b[n] != 0) ++n;
        bytes memory s = new bytes(n);
        for (uint256 i = 0; i < n; ++i) {
            s[i] = b[i];
        }
        return string(s);
    }
}
