"""What synthetic speakers say, per language: meeting small talk for :mod:`echonote.testing.synth`.

Each phrasebook lists the espeak-ng voices (accents) that speak it and the pieces sentences
are built from: an opener, a claim about a subject, sometimes a follow-up. Subjects are
used only where the grammar leaves them unchanged (no article contractions, no case
changes), so every generated sentence is correct text to score a transcript against.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["GERMAN", "Phrasebook", "SPANISH"]


@dataclass(frozen=True)
class Phrasebook:
    """One language's voices and sentence pieces (claims hold ``{s}`` for the subject)."""

    accents: list[str]
    subjects: list[str]
    openers: list[str]
    claims: list[str]
    follows: list[str]
    backchannels: list[str]


GERMAN = Phrasebook(
    accents=["de"],
    subjects=["das Budget", "der Zeitplan", "die Kundenumfrage", "das neue Büro", "die Marketingplanung",
              "das nächste Quartal", "die Personalplanung", "die Serverrechnung", "die Designprüfung",
              "der Schulungsplan", "die Migration", "das Release"],
    openers=["Ich denke,", "Ich glaube,", "Ehrlich gesagt,", "Also,", "Na ja,", "Soweit ich weiß,",
             "Um ehrlich zu sein,", "Gut,"],
    claims=["{s} sieht im Moment gut aus", "{s} ist hinter dem Zeitplan", "{s} braucht noch ein zweites Paar Augen",
            "{s} lief besser als erwartet", "{s} hängt vom anderen Team ab",
            "{s} ist das größte Risiko in diesem Monat",
            "{s} muss nächste Woche noch einmal besprochen werden", "{s} ist noch nicht freigegeben",
            "{s} könnte viel einfacher sein", "{s} wird verschoben"],
    follows=["Ergibt das Sinn?", "Was denkt ihr?", "Schreiben wir das ins Protokoll.",
             "Ich schicke nachher eine Zusammenfassung.", "Gibt es Einwände?", "Das ist alles von mir.", ""],
    backchannels=["ja", "genau", "stimmt", "okay", "richtig", "klar"],
)

SPANISH = Phrasebook(
    accents=["es", "es-419"],
    subjects=["el presupuesto", "el lanzamiento", "el calendario", "la encuesta de clientes", "la nueva oficina",
              "el plan de marketing", "el próximo trimestre", "el plan de contratación", "la revisión del diseño",
              "el plan de formación", "la auditoría", "la migración"],
    openers=["Creo que", "Sinceramente,", "Por mi parte,", "Que yo sepa,", "La verdad es que", "Bueno,",
             "En mi opinión,", "Pues"],
    claims=["{s} va bien por ahora", "{s} va con retraso", "{s} necesita otra revisión",
            "{s} salió mejor de lo esperado", "{s} depende del otro equipo", "{s} es el mayor riesgo este mes",
            "nadie ha aprobado {s} todavía", "deberíamos revisar {s} la próxima semana",
            "podríamos simplificar {s} mucho", "hemos decidido aplazar {s}"],
    follows=["¿Tiene sentido?", "¿Qué pensáis?", "Lo pongo en las notas.", "Os mando un resumen después.",
             "¿Alguna objeción?", "Eso es todo por mi parte.", ""],
    backchannels=["sí", "claro", "vale", "exacto", "de acuerdo", "ya"],
)
