#!/usr/bin/env python3
# Usage: python3 exit-gp.py ../../../guest/trace/testdata/utsns-5.10.trace exit-gp.base.trace base
#        python3 exit-gp.py ../../../guest/trace/testdata/utsns-5.10.trace exit-gp.new.trace new
"""Writes exit-gp.base.trace and exit-gp.new.trace (see README.md).

Completes guest/trace/testdata/utsns-5.10.trace (a real 5.10 excerpt cut
at 32 KiB mid-exit) into one whole traced iteration, and plants a grace
period in the child's UTS namespace teardown for the new side."""
import sys, re

SRC = sys.argv[1]
OUT = sys.argv[2]
prefix = open(SRC).read().splitlines()
assert len(prefix) == 537, len(prefix)

def mark(ns):
    for v, m in ((1_000_000_000, '$'), (100_000_000, '@'), (10_000_000, '*'), (1_000_000, '#'), (100_000, '!'), (10_000, '+')):
        if ns > v:
            return m
    return ' '

def dur(ns):
    us, rem = divmod(ns, 1000)
    s = str(us)
    n = len(s)
    if n < 7:
        slen = min(5, 8 - n)
        frac = ('%03d' % rem)[:slen - 1]
        s += '.' + frac
        n += len(frac) + 1
    return ' ' + mark(ns) + ' ' + s + ' us ' + ' ' * max(0, 8 - n)

def proc(task):
    sp = 14 - len(task)
    half = sp // 2
    return ' ' * half + task + ' ' * (sp - half)

def line(task, depth, text, ns=None):
    col = dur(ns) if ns is not None else ' ' * 15
    return ' 0) ' + proc(task) + ' |' + col + '|  ' + '  ' * depth + text

def total(node):
    if isinstance(node[1], int) and len(node) == 2:
        return node[1]
    fn, self_ns, kids = node
    return self_ns + sum(total(k) for k in kids)

def emit(out, task, depth, node):
    if len(node) == 2:
        out.append(line(task, depth, node[0] + '();', node[1]))
        return
    fn, self_ns, kids = node
    out.append(line(task, depth, fn + '() {'))
    for k in kids:
        emit(out, task, depth + 1, k)
    out.append(line(task, depth, '}', total(node)))

def close(out, task, depth, prior, self_ns, kids):
    """Finish a frame opened in the real prefix: its remaining callees, then
    its exit with the whole duration."""
    for k in kids:
        emit(out, task, depth + 1, k)
    d = prior + self_ns + sum(total(k) for k in kids)
    out.append(line(task, depth, '}', d))
    return d

C, P = 'uinit-125', 'uinit-85'
cr = lambda a, b: ('_cond_resched', a, [('rcu_all_qs', b)])

def build(planted):
    out = []
    # The child: the rest of exit_files (fput, filp_close, put_files_struct).
    d = close(out, C, 6, 0, 1_071, [('fput_many', 1_012)])
    d = close(out, C, 5, 1_433 + 1_052 + d, 3_102, [])
    d = close(out, C, 4, 11_099 + 2_938 + 9_405 + 2_747 + d, 2_514, [('kmem_cache_free', 3_412)])
    exit_files = close(out, C, 3, 943 + d, 2_066, [])
    free_uts = [('dec_ucount', 3_381),
                ('proc_free_inum', 1_904, [('ida_free', 2_215, [('_raw_spin_lock_irqsave', 1_163), ('_raw_spin_unlock_irqrestore', 1_092)])])]
    if planted:
        free_uts.append(('synchronize_rcu', 1_947, [
            ('rcu_gp_is_expedited', 1_023),
            ('__wait_rcu_gp', 2_406, [('__init_swait_queue_head', 1_012), ('call_rcu', 4_871), ('wait_for_completion', 14_871_290)])]))
    free_uts.append(('kmem_cache_free', 2_675))
    rest = [
        ('exit_fs', 1_805, [('_raw_spin_lock', 1_053),
                            ('free_fs_struct', 1_611, [('path_put', 1_320, [('dput', 1_483), ('mntput', 1_071)]),
                                                       ('path_put', 1_190, [('dput', 1_362), ('mntput', 993)]),
                                                       ('kmem_cache_free', 2_114)])]),
        ('exit_task_namespaces', 1_102, [('switch_task_namespaces', 2_317, [
            ('_raw_spin_lock', 1_021),
            ('free_nsproxy', 1_785, [('put_mnt_ns', 1_114),
                                     ('free_uts_ns', 1_541, free_uts),
                                     ('put_ipc_ns', 1_223), ('put_pid_ns', 1_042),
                                     ('kmem_cache_free', 2_536)])])]),
        ('exit_task_work', 1_164),
        ('exit_thread', 1_973),
        ('perf_event_exit_task', 2_004, [('mutex_lock', 1_902, [cr(1_006, 973)]), ('mutex_unlock', 1_034)]),
        ('cgroup_exit', 2_612, [('_raw_spin_lock_irq', 1_085), ('_raw_spin_unlock_irq', 1_003)]),
        ('exit_notify', 3_318, [('_raw_write_lock_irq', 1_174),
                                ('forget_original_parent', 1_452, [('find_child_reaper', 1_203)]),
                                ('do_notify_parent', 4_150, [('__group_send_sig_info', 2_531, [('send_signal', 3_027)]),
                                                             ('__wake_up_parent', 1_402, [('__wake_up_sync_key', 1_871, [
                                                                 ('_raw_spin_lock_irqsave', 1_031),
                                                                 ('__wake_up_common', 2_288, [('child_wait_callback', 1_911, [
                                                                     ('default_wake_function', 1_132, [('try_to_wake_up', 9_842)])])]),
                                                                 ('_raw_spin_unlock_irqrestore', 1_012)])])])]),
        ('proc_exit_connector', 1_153),
        ('exit_rcu', 1_004),
    ]
    for n in rest:
        emit(out, C, 3, n)
    dead = [('rcu_note_context_switch', 1_163, [('rcu_qs', 1_021)]), ('_raw_spin_lock', 1_044), ('update_rq_clock', 1_233),
            ('dequeue_task_fair', 3_405, [('dequeue_entity', 4_118, [('update_curr', 2_036), ('__update_load_avg_se', 1_092),
                                                                      ('__update_load_avg_cfs_rq', 1_033), ('clear_buddies', 982)])]),
            ('pick_next_task_fair', 2_315, [('check_cfs_rq_runtime', 963), ('pick_next_entity', 1_874, [('clear_buddies', 932)]),
                                            ('set_next_entity', 2_106, [('__update_load_avg_se', 1_063), ('__update_load_avg_cfs_rq', 1_012)])]),
            ('psi_task_switch', 2_018, [('psi_flags_change', 1_002), ('psi_group_change', 1_964, [('record_times', 1_102)])]),
            ('__traceiter_sched_switch', 2_716), ('switch_mm_irqs_off', 1_227)]
    out.append(line(C, 3, 'do_task_dead() {'))
    for n in dead:
        emit(out, C, 4, n)
    out += [' ------------------------------------------',
            ' 0) ' + proc(C) + ' => ' + proc(P),
            ' ------------------------------------------',
            '']
    # The child's traced time: the stray get_xsave_addr, do_exit's callees
    # in the real prefix (depth 3 lines with a duration), and the rest.
    child = 1_434
    for l in prefix:
        m = re.match(r' 0\)\s+uinit-125\s+\|\s*[+!#*@$]?\s*([0-9.]+) us\s*\|  (\s*)\S', l)
        if m and len(m.group(2)) == 6:
            child += round(float(m.group(1)) * 1000)
    child += exit_files + sum(total(n) for n in rest) + sum(total(n) for n in dead)
    # The parent wakes in schedule: it slept as long as the child ran,
    # plus the untraced moments between the child's traced calls.
    sched_prior = 3_178 + 1_123 + 1_293 + 9_434 + 21_396 + 17_346 + 7_089 + 2_927 + 1_183 + 1_985
    gaps = 61_527 + (3_127 if planted else 0)
    after = [('finish_task_switch', 1_874, [('_raw_spin_unlock_irq', 1_013),
                                            ('put_task_stack', 1_521, [('free_thread_stack', 3_870)]),
                                            ('put_task_struct_rcu_user', 1_236, [('call_rcu', 2_911)])])]
    sched = close(out, P, 3, sched_prior + child + gaps, 4_882, after)
    release = ('release_task', 3_310, [('rcu_read_unlock_strict', 1_021),
                                       ('proc_flush_pid', 1_612, [('d_invalidate', 1_040)]),
                                       ('_raw_write_lock_irq', 1_121),
                                       ('__exit_signal', 4_106, [('thread_group_cputime_adjusted', 2_210, [('cputime_adjust', 1_833)]),
                                                                 ('_raw_spin_lock', 1_015), ('__unhash_process', 2_387),
                                                                 ('_raw_spin_unlock', 1_007), ('flush_sigqueue', 1_311),
                                                                 ('posix_cpu_timers_exit', 1_102)]),
                                       ('_raw_write_unlock_irq', 1_044),
                                       ('seccomp_filter_release', 1_121),
                                       ('release_thread', 1_005),
                                       ('put_task_struct_rcu_user', 1_276, [('call_rcu', 2_703)])])
    dw = close(out, P, 2, 13_325 + sched, 3_917, [
        ('_raw_read_lock', 1_154),
        ('wait_consider_task', 3_620, [('thread_group_cputime_adjusted', 2_135, [('cputime_adjust', 1_712)]),
                                       ('_raw_spin_lock_irq', 1_043), ('_raw_spin_unlock_irq', 992),
                                       ('getrusage', 2_880, [('_raw_spin_lock_irqsave', 1_024), ('_raw_spin_unlock_irqrestore', 1_001)]),
                                       release]),
        ('remove_wait_queue', 1_611, [('_raw_spin_lock_irqsave', 1_012), ('_raw_spin_unlock_irqrestore', 1_003)])])
    kw = close(out, P, 1, 7_650 + dw, 2_308, [('put_pid', 1_394)])
    close(out, P, 0, kw, 3_176, [])
    return out

planted = sys.argv[3] == 'new'
with open(OUT, 'w') as f:
    f.write('\n'.join(prefix + build(planted)) + '\n')
