"""``python -m training.torchrun``: torchrun's launcher agent, made to die with its own parent first.

torchrun (``torch.distributed.run``) starts one process per rank and waits for them; if
whoever launched it is killed, the agent would live on as an orphan with its ranks still
training. Here the agent first asks for the parent-death signal, then runs torchrun
unchanged (same arguments); each rank asks for it too (`training.train.main`), so killing
the launcher takes the agent and every rank down. Only the standard library is imported
before the signal is set, so the window in which a dead parent goes unnoticed is short
(and closed altogether when the launcher sets `training.processes.PARENT_PID_ENV`).
"""

from training.processes import die_with_parent, parent_pid_from_environment

if __name__ == "__main__":
    die_with_parent(parent_pid_from_environment())
    from torch.distributed.run import main

    main()
